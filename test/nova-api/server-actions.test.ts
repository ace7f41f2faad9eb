import { describe, expect, it } from 'vitest';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import { runServerAction, type ServerActionDeps } from '../../lib/nova-api/server-actions.ts';
import type { AuthenticatedNovaRequest } from '../../lib/nova-api/middleware.ts';
import { readRemoteConsoleConfig } from '../../lib/remote-consoles/console-config.ts';
import { httpEvent } from '../helpers/http-event.ts';

const id = '0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11';
const server: ServerRecord = { id, name: 's', projectId: 'p', userId: 'u', host: 'h', hypervisor: 'files', state: 'active', instanceName: 'i', updatedAt: 0 };
const deps = {
  directory: { getServer: async () => server, getHost: async () => undefined },
  requester: { request: async () => { throw new Error('no host is asked here'); } },
  // Remote consoles not configured (no token table): every console type is unavailable, as with Nova's `enabled = false`.
  consoleTokens: undefined,
  consoles: readRemoteConsoleConfig({}),
} as ServerActionDeps;

function request(body: unknown, minor: number): AuthenticatedNovaRequest {
  return {
    event: httpEvent({ method: 'POST', path: `/v2.1/servers/${id}/action` }),
    headers: {},
    microversion: { major: 2, minor },
    requestId: 'req-test',
    baseUrl: 'https://api.example.test',
    body,
    deadline: Date.now() + 1000,
    principal: { userId: 'u', projectId: 'p', roles: [], isAdmin: false },
  };
}

describe('the server-action table', () => {
  it('legacy console actions exist up to 2.5 and are 404 from 2.6, as in Nova', async () => {
    await expect(runServerAction(request({ 'os-getVNCConsole': { type: 'novnc' } }, 5), deps)).rejects.toMatchObject({ status: 400, message: 'Unavailable console type novnc.' });
    await expect(runServerAction(request({ 'os-getRDPConsole': { type: 'rdp-html5' } }, 5), deps)).rejects.toMatchObject({ status: 400 });
    await expect(runServerAction(request({ 'os-getRDPConsole': { type: 'rdp-html5' } }, 6), deps)).rejects.toMatchObject({ status: 404 });
    await expect(runServerAction(request({ 'os-getVNCConsole': { type: 'novnc' } }, 6), deps)).rejects.toMatchObject({ status: 404, message: 'The resource could not be found.' });
  });

  it.each([[null], [[]], ['x'], [{}], [{ a: {}, b: {} }]])('400 Malformed request body for %j', async (body) => {
    await expect(runServerAction(request(body, 1), deps)).rejects.toMatchObject({ status: 400, message: 'Malformed request body' });
  });
});
