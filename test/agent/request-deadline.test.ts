/**
 * The request's deadline reaches the driver as an AbortSignal and stops the subprocess it runs:
 * before, handle-request dropped the signal and virsh ran on for up to 15 s after a 10 s deadline.
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRequestHandler } from '../../lib/agent/handle-request.ts';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { LibvirtDriver } from '../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { isAlive } from '../helpers/agent-process.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, startHost, startRequester, type HostUnderTest } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const aws = useLocalAws();
let work: string;
let pidFile: string;
let host: HostUnderTest;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-deadline-'));
  pidFile = join(work, 'virsh.pid');
  // A libvirt that never answers: `virsh dumpxml` hangs for 30 s.
  const virsh = join(work, 'virsh');
  await writeFile(virsh, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 30\n`);
  await chmod(virsh, 0o755);
  const driver = new LibvirtDriver({ uri: 'test:///hung', roots: [work], instancesDir: work, virshPath: virsh });
  host = await startHost(aws, 'hung-libvirt', { handle: createRequestHandler(driver) });
}, 30_000);

afterAll(async () => {
  await host?.responder.stop();
  await rm(work, { recursive: true, force: true });
});

it('kills the hung virsh at the request deadline, and the agent replies to no one after it', async () => {
  const dropped: unknown[] = [];
  host.responder.on('dropped', (e) => dropped.push(e));
  const requester = startRequester(aws);
  try {
    const id = randomUUID();
    const started = Date.now();
    const outcome = ask(requester, host.host, { v: PROTOCOL_VERSION, kind: 'console.output', server: { id, instanceName: `instance-${id.slice(0, 8)}` }, length: null }, 1_500);
    await waitFor(async () => (await readFile(pidFile, 'utf8').catch(() => '')).trim() !== '', 5_000, 'virsh to start');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(isAlive(pid)).toBe(true);
    await expect(outcome).rejects.toMatchObject({ code: 'HostTimeout' });
    // Gone within a moment of the deadline, not 15 s (virsh's own timeout) or 30 s later.
    await waitFor(() => !isAlive(pid), 2_000, 'virsh to be killed');
    expect(Date.now() - started).toBeLessThan(3_500);
    await waitFor(() => dropped.length === 1, 2_000, 'the request to be dropped');
    expect(dropped).toMatchObject([{ reason: 'deadline' }]);
  } finally {
    await requester.close();
  }
});

it('a driver read aborted by its signal rejects at once', async () => {
  const driver = new LibvirtDriver({ uri: 'test:///hung', roots: [work], instancesDir: work, virshPath: join(work, 'virsh') });
  const started = Date.now();
  await expect(driver.readConsoleLog({ id: randomUUID(), instanceName: 'x' }, 1024, AbortSignal.timeout(300))).rejects.toBeDefined();
  expect(Date.now() - started).toBeLessThan(1_500);
  await sleep(100);
  expect(isAlive(Number((await readFile(pidFile, 'utf8')).trim()))).toBe(false);
});
