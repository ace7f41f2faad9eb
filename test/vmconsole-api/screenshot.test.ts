import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/get-screenshot.ts';
import { createApiDependencies } from '../../lib/vmconsole-api/wiring.ts';
import { kill, startAgentProcess } from '../helpers/agent-process.ts';
import { invoke } from '../helpers/http-event.ts';
import { testNodeAgentEnv, writeTestNode } from '../helpers/libvirt-test-node.ts';
import { loadOpenApi, type OpenApi } from '../helpers/openapi.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { requireToolsOrSkip } from '../helpers/require-tools.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';

const TEMPLATE = '/vmconsole/v1/servers/{server_id}/screenshot';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * GET /vmconsole/v1/servers/{id}/screenshot through real agents: a files-driver host (no screens:
 * 409 NoGraphics) and a libvirt host on libvirt's test driver, whose `virsh screenshot` gives a
 * real PNG of a guest with a VNC display. Responses are checked against docs/openapi.yaml.
 */
describe.runIf(requireToolsOrSkip(['virsh']))('/vmconsole/v1 screenshot', () => {
  const files = useAgentOnLocalAws({ host: 'files-host-1', servers: 1 });
  const scratch = mkdtempSync(join(tmpdir(), 'vmconsole-screenshot-api-'));
  const screen = { id: randomUUID(), name: 'screen-1' };
  const headless = { id: randomUUID(), name: 'headless-1' };
  let libvirtAgent: ChildProcess;
  let api: OpenApi;
  let handler: ReturnType<typeof createHandler>;

  beforeAll(async () => {
    const nodeFile = join(scratch, 'node.xml');
    const owner = { projectId: 'rel', userId: 'rel-user' };
    await writeTestNode(nodeFile, [
      { name: 'instance-000000f1', uuid: screen.id, nova: { name: screen.name, ...owner }, graphics: true },
      { name: 'instance-000000f2', uuid: headless.id, nova: { name: headless.name, ...owner } },
    ]);
    const { aws } = files;
    libvirtAgent = await startAgentProcess(aws.env, { host: 'libvirt-test-1', directory: aws.directory, extraEnv: testNodeAgentEnv(nodeFile, scratch) });
    api = await loadOpenApi();
    const deps = createApiDependencies({ ...aws.env, VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_REPLY_TIMEOUT_MS: '8000' }, { edge: { logger: recordingLogger() } });
    handler = createHandler(deps);
  });
  afterAll(async () => {
    await kill(libvirtAgent);
    rmSync(scratch, { recursive: true, force: true });
  });

  const get = (serverId: string, headers: Record<string, string> = {}) =>
    invoke(handler, { method: 'GET', path: TEMPLATE.replace('{server_id}', serverId), pathParameters: { server_id: serverId }, headers: { 'X-Auth-Token': 'rel-user:rel', ...headers } });

  it('Accept: image/png answers the PNG itself, base64 for API Gateway to decode', async () => {
    const res = await get(screen.id, { Accept: 'image/png' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers.vary).toBe('Accept');
    expect(res.raw.isBase64Encoded).toBe(true);
    const png = Buffer.from(res.raw.body!, 'base64');
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
    // The test driver's picture: 1120x832, as `virsh -c test:///default screenshot` writes it.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1120, 832]);
  });

  it('JSON (no Accept, */*, application/json) carries the same PNG in base64 with its size, as the document says', async () => {
    const png = Buffer.from((await get(screen.id, { Accept: 'image/*' })).raw.body!, 'base64');
    for (const accept of [undefined, '*/*', 'application/json', 'image/png;q=0.5, application/json']) {
      const res = await get(screen.id, accept === undefined ? {} : { Accept: accept });
      expect(res.status, accept).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      expect(api.check('GET', TEMPLATE, 200, res.json)).toEqual([]);
      expect(res.json.screenshot).toMatchObject({ serverId: screen.id, contentType: 'image/png', width: 1120, height: 832, bytes: png.length });
      expect(Buffer.from(res.json.screenshot.data, 'base64')).toEqual(png);
    }
  });

  it('a guest without graphics, and a files-driver server: 409 NoGraphics in the API error format', async () => {
    for (const id of [headless.id, files.servers[0]!.id]) {
      for (const accept of ['image/png', 'application/json']) {
        const res = await get(id, { Accept: accept });
        expect(res.status, id).toBe(409);
        expect(res.headers['content-type']).toBe('application/json');
        expect(res.json.error).toMatchObject({ code: 'NoGraphics', message: expect.stringMatching(/no screen/) });
        expect(res.json.error.message).not.toMatch(/files-host|libvirt-test|test:\/\//);
        expect(api.check('GET', TEMPLATE, 409, res.json)).toEqual([]);
      }
    }
  });

  it('tenant scoping, auth and negotiation: another project 404, no token 401, Accept text/html 406', async () => {
    const other = await get(screen.id, { 'X-Auth-Token': 'mallory:other' });
    expect(other.status).toBe(404);
    expect(other.json.error.code).toBe('ServerNotFound');
    expect(api.check('GET', TEMPLATE, 404, other.json)).toEqual([]);
    const anonymous = await invoke(handler, { method: 'GET', path: `/vmconsole/v1/servers/${screen.id}/screenshot`, pathParameters: { server_id: screen.id } });
    expect(anonymous.status).toBe(401);
    const html = await get(screen.id, { Accept: 'text/html' });
    expect(html.status).toBe(406);
    expect(html.json.error).toMatchObject({ code: 'NotAcceptable', message: 'This resource is available as application/json or image/png.' });
    expect(api.check('GET', TEMPLATE, 406, html.json)).toEqual([]);
  });
});
