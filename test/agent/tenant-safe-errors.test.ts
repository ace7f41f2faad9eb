import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRequestHandler } from '../../lib/agent/handle-request.ts';
import { tenantSafe } from '../../lib/errors.ts';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import { FilesDriver } from '../../lib/hypervisors/files/files-driver.ts';

describe('what leaves the agent', () => {
  it('keeps a thrower\'s tenant-safe message when it put the rest in detail', () => {
    const err = new VmconsoleError('Forbidden', 'The console log of this server is outside what vmconsole may read on its host.', { detail: '/etc/passwd is outside /var/lib/nova/instances' });
    expect(tenantSafe(err)).toBe(err);
  });

  it.each([
    ['Forbidden', 'console log /var/lib/nova/instances/x/console.log is outside the agent log roots', 'The console log of this server is outside what vmconsole may read on its host.'],
    ['Internal', 'cannot connect to libvirt at qemu:///system: Failed to connect socket to \'/var/run/libvirt/libvirt-sock\'', 'The request failed on the compute host.'],
    ['Internal', 'malformed domain XML (line 3): unclosed tag', 'The request failed on the compute host.'],
    ['NoConsole', 'server has no console', 'This server has no console log.'],
  ] as const)('does not trust a %s message without detail: it becomes the detail', (code, message, tenantText) => {
    expect(tenantSafe(new VmconsoleError(code, message))).toMatchObject({ code, message: tenantText, detail: message });
  });

  it('turns anything else into Internal with its text in detail', () => {
    expect(tenantSafe(new TypeError('x.y is undefined at /opt/vmconsole/lib/agent.js:1'))).toMatchObject({
      code: 'Internal', message: 'The request failed on the compute host.', detail: 'x.y is undefined at /opt/vmconsole/lib/agent.js:1',
    });
  });

  it('applies to what the request handler throws (a console.log that is a directory)', async () => {
    const instancesDir = await mkdtemp(join(tmpdir(), 'vmconsole-tenant-safe-'));
    try {
      const id = '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01';
      await mkdir(join(instancesDir, id, 'console.log'), { recursive: true });
      const handle = createRequestHandler(new FilesDriver({ instancesDir, roots: [instancesDir] }));
      const request = { v: PROTOCOL_VERSION, kind: 'console.output', server: { id, instanceName: id }, length: null } as const;
      const failure = await handle(request, { deadline: Date.now() + 1_000, signal: new AbortController().signal, requestId: 'req-1' }).catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: 'Forbidden', detail: expect.stringContaining(instancesDir) });
      expect((failure as Error).message).not.toContain(instancesDir);
    } finally {
      await rm(instancesDir, { recursive: true, force: true });
    }
  });
});
