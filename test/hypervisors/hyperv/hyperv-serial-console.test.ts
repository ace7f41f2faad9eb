/**
 * Hyper-V interactive serial consoles through the agent's request handler and the shared serial
 * hub: the VM's COM `rw` pipe (a Unix-socket pipe server standing in for Hyper-V's, one client at
 * a time), a real HyperVDriver with its collectors, and the relay's tunnel path as a real `ws`
 * server. Every COM pipe is logged (hyperv-driver.test.ts), so the console shares the `rw` pipe
 * collector's one connection and the log keeps growing with the same bytes the viewers see.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleSessions } from '../../../lib/agent/console-sessions.ts';
import { createRequestHandler } from '../../../lib/agent/handle-request.ts';
import { PROTOCOL_VERSION, type RequestOf } from '../../../lib/contracts/messages.ts';
import { HyperVDriver } from '../../../lib/hypervisors/hyperv/hyperv-driver.ts';
import { startTestHyperVHost, type TestHyperVHost, type TestVm } from '../../helpers/hyperv-test-host.ts';
import { recordingLogger } from '../../helpers/recording-logger.ts';
import { startTunnelEndpoint, type TunnelEndpoint } from '../../helpers/tunnel-endpoint.ts';
import { waitFor } from '../../helpers/wait.ts';

let host: TestHyperVHost;
let driver: HyperVDriver;
let relay: TunnelEndpoint;
let sessions: ConsoleSessions;
let n = 0;
const nextId = () => `hv${++n}`;
const context = (ms = 5_000) => ({ deadline: Date.now() + ms, signal: AbortSignal.timeout(ms), requestId: 'req-hyperv-serial' });

beforeEach(async () => {
  host = await startTestHyperVHost();
  relay = await startTunnelEndpoint();
});
afterEach(async () => {
  await sessions?.stop();
  await driver?.stop();
  await relay.close();
  await host.stop();
});

async function start(): Promise<ReturnType<typeof createRequestHandler>> {
  driver = new HyperVDriver({
    powershell: host.powershell,
    pipePathTemplate: host.pipeTemplate,
    instancesDir: host.instancesDir,
    roots: [host.instancesDir],
    logCapBytes: 64 * 1024,
    pollMs: 100,
    backoff: { initialMs: 10, maxMs: 100 },
    logger: recordingLogger(),
  });
  await driver.start();
  sessions = new ConsoleSessions({ relayPrefixes: [relay.prefix], logger: recordingLogger() });
  return createRequestHandler(driver, { consoles: sessions });
}

const server = (vm: TestVm) => ({ id: vm.serverId, instanceName: vm.name });
const endpoint = (vm: TestVm, protocol: 'vnc' | 'spice' | 'serial'): RequestOf<'console.endpoint'> =>
  ({ v: PROTOCOL_VERSION, kind: 'console.endpoint', server: server(vm), protocol });
const connect = (vm: TestVm, port: number, tunnelUrl: string): RequestOf<'console.connect'> =>
  ({ v: PROTOCOL_VERSION, kind: 'console.connect', server: server(vm), protocol: 'serial', port, tunnelUrl });
const log = async (vm: TestVm) => (await driver.readConsoleLog(server(vm), 100 * 1024)).toString('latin1');

describe('Hyper-V serial console', () => {
  it('console.endpoint names COM 1; VNC and SPICE are NoConsole; a stopped, shielded or ro-only VM has no serial console now', async () => {
    const vm = await host.addVm({ name: 'instance-00000101', ports: [{ number: 1, type: 'rw' }] });
    const off = await host.addVm({ name: 'instance-00000102', ports: [{ number: 1, type: 'rw' }], running: false });
    const shielded = await host.addVm({ name: 'instance-00000107', ports: [{ number: 1, type: 'rw' }], secure: true });
    const roOnly = await host.addVm({ name: 'instance-00000108', ports: [{ number: 1, type: 'ro' }] });
    const handle = await start();
    await expect(handle(endpoint(vm, 'serial'), context())).resolves.toEqual({ port: 1, tlsPort: null });
    for (const protocol of ['vnc', 'spice'] as const) {
      const failure = await handle(endpoint(vm, protocol), context()).catch((e: unknown) => e);
      expect(failure).toMatchObject({ code: 'NoConsole', message: `Hyper-V servers have no ${protocol.toUpperCase()} console.` });
    }
    for (const none of [off, shielded, roOnly]) {
      await expect(handle(endpoint(none, 'serial'), context())).rejects.toMatchObject({ code: 'NoConsole', message: 'This server has no serial console now.' });
    }
    expect(shielded.pipe('rw').connections).toBe(0);
  });

  it('shares the collector\'s rw connection: output reaches two viewers and the log alike, both viewers\' typing reaches the VM', async () => {
    const vm = await host.addVm({ name: 'instance-00000103', ports: [{ number: 1, type: 'rw' }] });
    const pipe = vm.pipe('rw');
    const handle = await start();
    await waitFor(() => pipe.connected, 5_000, 'the collector to hold the rw pipe');
    await pipe.sendAll(Buffer.from('boot done\r\n'));
    await waitFor(async () => (await log(vm)) === 'boot done\r\n', 5_000, 'the boot text in the log');

    const a = nextId();
    await expect(handle(connect(vm, 1, relay.urlFor(a)), context())).resolves.toEqual({ connected: true });
    const viewerA = await relay.tunnel(a);
    await pipe.sendAll(Buffer.from('login: '));
    await viewerA.waitFor(/login: $/);
    viewerA.send('root\r');
    await waitFor(() => pipe.received.toString() === 'root\r', 5_000, 'viewer A\'s typing at the VM');
    await pipe.sendAll(Buffer.from('root\r\n# '));
    await viewerA.waitFor(/root\r\n# $/);

    const b = nextId();
    await handle(connect(vm, 1, relay.urlFor(b)), context());
    const viewerB = await relay.tunnel(b);
    await viewerB.waitFor(/login: root\r\n# $/); // the replay of what came before it joined
    viewerB.send('uname\r');
    await waitFor(() => pipe.received.toString() === 'root\runame\r', 5_000, 'viewer B\'s typing at the VM');
    await pipe.sendAll(Buffer.from('uname\r\nLinux\r\n# '));
    await viewerA.waitFor(/Linux\r\n# $/);
    await viewerB.waitFor(/Linux\r\n# $/);

    // The log kept growing meanwhile, with exactly what the pipe delivered; the VM saw one client.
    await waitFor(async () => (await log(vm)) === pipe.delivered.toString('latin1'), 5_000, 'the log to hold everything delivered');
    expect(await log(vm)).toBe('boot done\r\nlogin: root\r\n# uname\r\nLinux\r\n# ');
    // The viewer sees what came since the console was opened (the boot text is the log's to show).
    expect(viewerA.received().toString('latin1')).toBe('login: root\r\n# uname\r\nLinux\r\n# ');
    expect(pipe.connections).toBe(1);
    expect(pipe.refused).toBe(0);
  });

  it('follows the collector across a broken pipe: the viewer keeps its session and sees what comes after', async () => {
    const vm = await host.addVm({ name: 'instance-00000104', ports: [{ number: 1, type: 'rw' }] });
    const pipe = vm.pipe('rw');
    const handle = await start();
    await waitFor(() => pipe.connected, 5_000, 'the collector to hold the rw pipe');
    const id = nextId();
    await handle(connect(vm, 1, relay.urlFor(id)), context());
    const viewer = await relay.tunnel(id);
    pipe.breakConnection();
    await waitFor(() => pipe.connections === 2, 5_000, 'the collector to reconnect');
    // The hub reopens its share once the collector is back (a few hundred ms of backoff).
    await waitFor(async () => {
      await pipe.send(Buffer.from('.'));
      return viewer.received().includes('.');
    }, 5_000, 'output after the break at the viewer');
    viewer.send('x');
    await waitFor(() => pipe.received.toString().endsWith('x'), 5_000, 'typing after the break at the VM');
    expect(pipe.refused).toBe(0);
    await waitFor(async () => (await log(vm)) === pipe.delivered.toString('latin1'), 5_000, 'the log to hold everything delivered');
  });

  it('shares the COM 2 collector\'s rw connection when COM 1 is the ro log; the port is the rw pipe\'s COM number', async () => {
    const vm = await host.addVm({ name: 'instance-00000105' }); // COM 1 ro (console.log), COM 2 rw (console-1.log)
    const handle = await start();
    await waitFor(() => vm.pipe('ro').connected && vm.pipe('rw').connected, 5_000, 'the collectors to hold both pipes');
    await expect(handle(endpoint(vm, 'serial'), context())).resolves.toEqual({ port: 2, tlsPort: null });
    const id = nextId();
    await handle(connect(vm, 2, relay.urlFor(id)), context());
    const viewer = await relay.tunnel(id);
    await vm.pipe('rw').sendAll(Buffer.from('login: '));
    await viewer.waitFor(/login: $/);
    viewer.send('root\r');
    await waitFor(() => vm.pipe('rw').received.toString() === 'root\r', 5_000, 'typing at the VM');
    // One client on the rw pipe (the collector's), and what the viewer saw is in COM 2's log.
    expect(vm.pipe('rw').connections).toBe(1);
    const com2 = (await driver.consoleLogs(server(vm))).find((l) => l.name === 'COM2')!;
    await waitFor(async () => (await readFile(com2.log.files[0]!, 'latin1').catch(() => '')) === 'login: ', 5_000, 'COM 2 logged while shared');
    await vm.pipe('ro').sendAll(Buffer.from('logged\r\n'));
    await waitFor(async () => (await log(vm)) === 'logged\r\n', 5_000, 'the ro pipe still logged');
  });

  it('refuses a port that is not the VM\'s serial console, dialling nothing and opening no pipe', async () => {
    const vm = await host.addVm({ name: 'instance-00000106', ports: [{ number: 1, type: 'rw' }] });
    const handle = await start();
    await waitFor(() => vm.pipe('rw').connected, 5_000, 'the collector to hold the rw pipe');
    const id = nextId();
    const failure = await handle(connect(vm, 2, relay.urlFor(id)), context()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'NoConsole', message: expect.stringMatching(/no longer this server's/) });
    expect(JSON.stringify({ message: (failure as Error).message })).not.toContain(host.dir);
    expect(relay.dialled()).not.toContain(id);
    expect(vm.pipe('rw').connections).toBe(1);
  });
});
