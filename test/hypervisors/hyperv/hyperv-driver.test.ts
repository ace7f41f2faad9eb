import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DriverEvent } from '../../../lib/hypervisors/driver.ts';
import { HyperVDriver } from '../../../lib/hypervisors/hyperv/hyperv-driver.ts';
import { locate, numberedStream, recordedEntry, startTestHyperVHost, type TestHyperVHost, type TestVm } from '../../helpers/hyperv-test-host.ts';
import { recordingLogger } from '../../helpers/recording-logger.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

let host: TestHyperVHost;
let driver: HyperVDriver;
let events: DriverEvent[];
const watching = new AbortController();
const CAP = 64 * 1024;

beforeEach(async () => {
  host = await startTestHyperVHost();
  events = [];
});
afterEach(async () => {
  await driver?.stop();
  await host.stop();
});

async function startDriver(): Promise<ReturnType<typeof recordingLogger>> {
  const logger = recordingLogger();
  driver = new HyperVDriver({
    powershell: host.powershell,
    pipePathTemplate: host.pipeTemplate,
    instancesDir: host.instancesDir,
    roots: [host.instancesDir],
    logCapBytes: CAP,
    pollMs: 100,
    backoff: { initialMs: 10, maxMs: 100 },
    logger,
  });
  driver.watch((e) => events.push(e), watching.signal);
  await driver.start();
  return logger;
}

const handle = (vm: TestVm) => ({ id: vm.serverId, instanceName: vm.name });
const read = (vm: TestVm, window = 100 * 1024) => driver.readConsoleLog(handle(vm), window);

describe('collectors follow the VMs', () => {
  it('collects the VMs running at start, starts with a VM that starts and lets go of one that stops', async () => {
    const web = await host.addVm({ name: 'instance-00000001' });
    const db = await host.addVm({ name: 'instance-00000002', running: false });
    const logger = await startDriver();
    await waitFor(() => web.pipe('ro').connected, 5_000, 'the running VM\'s ro pipe to be collected');
    // COM2's rw pipe is logged too (port 1); the ro one stays Nova's console.log.
    await waitFor(() => web.pipe('rw').connected, 5_000, 'the running VM\'s rw pipe to be collected');
    await web.pipe('ro').sendAll(Buffer.from('web boots\r\n'));
    await waitFor(async () => (await read(web)).toString() === 'web boots\r\n', 5_000, 'web\'s boot text');

    await db.start();
    await waitFor(() => db.pipe('ro').connected, 5_000, 'the started VM to be collected');
    await waitFor(() => events.some((e) => e.type === 'started' && e.server.id === db.serverId), 5_000, 'the start event');

    await web.stop();
    await waitFor(() => events.some((e) => e.type === 'stopped' && e.server.id === web.serverId), 5_000, 'the stop event');
    expect(web.pipe('ro').connected).toBe(false);
    // The stopped VM's log is still served from disk; starting it again appends to it.
    expect((await read(web)).toString()).toBe('web boots\r\n');
    await web.start();
    await waitFor(() => web.pipe('ro').connected, 5_000, 'the restarted VM to be collected');
    await web.pipe('ro').sendAll(Buffer.from('web boots again\r\n'));
    await waitFor(async () => (await read(web)).toString() === 'web boots\r\nweb boots again\r\n', 5_000, 'the log appended across the restart');
    // A stopped VM's absent pipe is expected: nothing above debug level says so.
    expect(logger.entries.filter((e) => e.level === 'warn' || e.level === 'error')).toEqual([]);
  });

  it('a VM started between two listings is collected from its first bytes, before any listing sees it run', async () => {
    const vm = await host.addVm({ name: 'instance-00000009', running: false });
    const logger = recordingLogger();
    driver = new HyperVDriver({ powershell: host.powershell, pipePathTemplate: host.pipeTemplate, instancesDir: host.instancesDir, roots: [host.instancesDir], pollMs: 60_000, backoff: { initialMs: 10, maxMs: 100, idleMs: 100 }, logger });
    await driver.start();
    expect((await driver.listServers())[0]).toMatchObject({ state: 'stopped' });
    await vm.start(); // the next listing is a minute away
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the armed collector to connect');
    await vm.pipe('ro').sendAll(Buffer.from('[    0.000000] Linux version 6.1.0\r\nKernel panic - not syncing: VFS\r\n'));
    await waitFor(async () => (await read(vm)).toString().includes('Kernel panic'), 5_000, 'the early boot output in the log');
    expect((await driver.listServers())[0]).toMatchObject({ state: 'stopped' }); // still the old listing
    expect(logger.entries.filter((e) => e.message.includes('not available yet'))).toEqual([]);
  });

  it('a stopped VM\'s collector, waiting long between attempts, connects as soon as a listing sees the VM run', async () => {
    const vm = await host.addVm({ name: 'instance-0000000b', running: false });
    driver = new HyperVDriver({ powershell: host.powershell, pipePathTemplate: host.pipeTemplate, instancesDir: host.instancesDir, roots: [host.instancesDir], pollMs: 100, backoff: { initialMs: 10, maxMs: 100, idleMs: 600_000 }, logger: recordingLogger() });
    await driver.start();
    await vm.start();
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the collector to connect after the listing, not after its 10-minute wait');
  });

  it('a VM that appears and one that goes are events; listServers follows them', async () => {
    await startDriver();
    expect(await driver.listServers()).toEqual([]);
    const vm = await host.addVm({ name: 'instance-00000003' });
    await waitFor(async () => (await driver.listServers()).length === 1, 5_000, 'the new VM to be listed');
    expect(events.map((e) => e.type)).toEqual(['defined', 'started']);
    await host.removeVm(vm);
    await waitFor(async () => (await driver.listServers()).length === 0, 5_000, 'the VM to be gone');
    expect(events.map((e) => e.type)).toEqual(['defined', 'started', 'undefined']);
  });

  it('a VM entering a critical state is crashed once; one already critical when the agent starts is not', async () => {
    const already = { name: 'instance-0000000c', instanceUuid: '11111111-2222-4333-8444-555555555555' };
    const entering = { name: 'instance-0000000d', instanceUuid: '66666666-7777-4888-8999-aaaaaaaaaaaa' };
    const entry = (id: string, spec: typeof already, state: string) => ({ ...recordedEntry(id, spec, true), State: state });
    const alreadyId = 'a0000000-0000-4000-8000-00000000000c';
    const enteringId = 'a0000000-0000-4000-8000-00000000000d';
    host.setRawVms([entry(alreadyId, already, 'RunningCritical'), entry(enteringId, entering, 'Running')]);
    await startDriver();
    host.setRawVms([entry(alreadyId, already, 'RunningCritical'), entry(enteringId, entering, 'RunningCritical')]);
    await waitFor(() => events.some((e) => e.type === 'crashed'), 5_000, 'the crash event');
    await sleep(300); // a few more listings, still critical: no repeat
    expect(events.map((e) => ('server' in e ? [e.type, e.server.id, e.reason] : [e.type]))).toEqual([['crashed', entering.instanceUuid, 'RunningCritical']]);
  });

  it('logs the rw pipe when the VM has no ro pipe; a hostile VM name is only data', async () => {
    const vm = await host.addVm({ name: 'it\'s "x" $(rm -rf /) ; `id`', instanceUuid: null, ports: [{ number: 1, type: 'rw' }] });
    await startDriver();
    await waitFor(() => vm.pipe('rw').connected, 5_000, 'the rw pipe to be collected');
    await vm.pipe('rw').sendAll(Buffer.from('hello'));
    await waitFor(async () => (await read(vm)).toString() === 'hello', 5_000, 'the output');
    // The log lives under the VM id, not under a name that is not a safe path.
    expect(await readFile(join(host.instancesDir, vm.id, 'console.log'), 'utf8')).toBe('hello');
    expect((await driver.listServers())[0]).toMatchObject({ id: vm.id, name: vm.name, instanceName: vm.name });
  });
});

describe('with collection off (nova-compute\'s own handler still collects on this host)', () => {
  it('touches no pipe and reads the logs Nova writes, console.log.1 then console.log, under the instance name', async () => {
    const vm = await host.addVm({ name: 'instance-00000008' });
    driver = new HyperVDriver({ powershell: host.powershell, pipePathTemplate: host.pipeTemplate, instancesDir: host.instancesDir, roots: [host.instancesDir], pollMs: 100, collect: false, logger: recordingLogger() });
    await driver.start();
    const dir = join(host.instancesDir, 'instance-00000008');
    await mkdir(dir);
    await writeFile(join(dir, 'console.log.1'), 'older\n');
    await writeFile(join(dir, 'console.log'), 'newer\n');
    expect((await read(vm)).toString()).toBe('older\nnewer\n');
    // Nova's handler writes console.log only: no COM2 log is named that nobody writes.
    expect((await driver.consoleLogs(handle(vm))).map((l) => l.name)).toEqual(['COM1']);
    await sleep(300);
    expect(vm.pipe('ro').connections).toBe(0);
    expect(vm.pipe('rw').connections).toBe(0);
  });
});

describe('reading', () => {
  it('reads console.log.1 then console.log through the window, and stays consistent while the collector rotates', async () => {
    const vm = await host.addVm({ name: 'instance-00000004' });
    await startDriver();
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the collector');
    const stream = numberedStream(1024 * 1024);
    const sending = vm.pipe('ro').sendAll(stream, 16 * 1024);
    let reads = 0;
    let done = false;
    void sending.then(() => { done = true; });
    // Reads during a flood that rotates every 64 KiB: each is one contiguous piece of the stream.
    while (!done) {
      const got = await read(vm, 100 * 1024);
      if (got.length > 0) expect(locate(stream, got), `read ${reads} (${got.length} bytes)`).toBeGreaterThanOrEqual(0);
      reads++;
    }
    await waitFor(async () => (await read(vm, 10)).equals(stream.subarray(-10)), 5_000, 'the last bytes');
    // 1 MiB through files of CAP - 1 bytes: 16 rotations, 16 bytes live, the full backup before them.
    const rotations = Math.floor((stream.length - 1) / (CAP - 1));
    const held = CAP - 1 + (stream.length - rotations * (CAP - 1));
    const whole = await read(vm, 100 * 1024);
    expect(whole.length).toBe(held);
    expect(whole.equals(stream.subarray(stream.length - held))).toBe(true);
    expect((await read(vm, 20)).equals(stream.subarray(-20))).toBe(true); // a window across the two files
    expect(reads).toBeGreaterThan(3);
  });

  it('a shielded VM and a VM without a serial pipe have no console log (404 NoConsole); an unknown id is ServerNotFound', async () => {
    const shielded = await host.addVm({ name: 'instance-00000005', secure: true });
    const bare = await host.addVm({ name: 'instance-00000006', ports: [] });
    await startDriver();
    await expect(read(shielded)).rejects.toMatchObject({ code: 'NoConsole', message: 'Shielded or encrypted VMs have no serial console log.' });
    await sleep(300);
    expect(shielded.pipe('ro').connected).toBe(false); // Nova does not collect them either
    await expect(read(bare)).rejects.toMatchObject({ code: 'NoConsole', message: 'This server has no console log.' });
    await expect(driver.readConsoleLog({ id: '00000000-0000-4000-8000-000000000000', instanceName: 'x' }, 10)).rejects.toMatchObject({ code: 'ServerNotFound' });
  });

  it("names the log set a follower watches: the collector's console.log and its .1; none for a shielded VM or one without a pipe", async () => {
    const vm = await host.addVm({ name: 'instance-00000009' });
    const shielded = await host.addVm({ name: 'instance-0000000a', secure: true });
    const bare = await host.addVm({ name: 'instance-0000000b', ports: [] });
    await startDriver();
    const log = join(host.instancesDir, 'instance-00000009', 'console.log');
    expect((await driver.consoleLogSet(handle(vm)))?.files).toEqual([log, `${log}.1`]);
    expect(await driver.consoleLogSet(handle(shielded))).toBeUndefined();
    expect(await driver.consoleLogSet(handle(bare))).toBeUndefined();
    await expect(driver.consoleLogSet({ id: '00000000-0000-4000-8000-000000000000', instanceName: 'x' })).rejects.toMatchObject({ code: 'ServerNotFound' });
  });

  it('collects every COM pipe: COM1 into console.log (port 0), COM2 into console-1.log (port 1), byte-exact, each rotated at the cap', async () => {
    const vm = await host.addVm({ name: 'instance-0000000c' });
    const shielded = await host.addVm({ name: 'instance-0000000d', secure: true });
    await startDriver();
    const dir = join(host.instancesDir, 'instance-0000000c');
    expect(await driver.consoleLogs(handle(vm))).toEqual([
      { port: 0, name: 'COM1', log: expect.objectContaining({ files: [join(dir, 'console.log'), join(dir, 'console.log.1')] }) },
      { port: 1, name: 'COM2', log: expect.objectContaining({ files: [join(dir, 'console-1.log'), join(dir, 'console-1.log.1')] }) },
    ]);
    expect(await driver.consoleLogs(handle(shielded))).toEqual([]);
    await expect(driver.consoleLogs({ id: '00000000-0000-4000-8000-000000000000', instanceName: 'x' })).rejects.toMatchObject({ code: 'ServerNotFound' });

    await waitFor(() => vm.pipe('ro').connected && vm.pipe('rw').connected, 5_000, 'both COM pipes to be collected');
    // Every byte value, and more than the cap on COM2 so its log rotates on its own.
    const com1 = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    const com2 = numberedStream(CAP + CAP / 2);
    await vm.pipe('ro').sendAll(com1);
    await vm.pipe('rw').sendAll(com2);
    await waitFor(async () => (await read(vm)).equals(com1), 5_000, 'COM1 in console.log');
    const rotated = async () => Buffer.concat([await readFile(join(dir, 'console-1.log.1')).catch(() => Buffer.alloc(0)), await readFile(join(dir, 'console-1.log')).catch(() => Buffer.alloc(0))]);
    await waitFor(async () => (await rotated()).equals(com2), 5_000, 'COM2 in console-1.log.1 + console-1.log');
    expect((await readFile(join(dir, 'console-1.log.1'))).length).toBeLessThanOrEqual(CAP);
    expect(await readFile(join(dir, 'console.log'))).toEqual(com1);
  });

  it('a VM whose log is outside the roots is refused without naming the path to the tenant', async () => {
    const vm = await host.addVm({ name: 'instance-00000007' });
    const logger = recordingLogger();
    driver = new HyperVDriver({ powershell: host.powershell, pipePathTemplate: host.pipeTemplate, instancesDir: host.instancesDir, roots: [join(host.dir, 'elsewhere')], pollMs: 100, logger });
    await driver.start();
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the collector');
    await vm.pipe('ro').sendAll(Buffer.from('x'));
    await waitFor(() => readFile(join(host.instancesDir, vm.name, 'console.log'), 'utf8').then((t) => t === 'x', () => false), 5_000, 'the log to be written');
    const err = (await read(vm).catch((e: unknown) => e)) as { code: string; message: string; detail: string };
    expect(err).toMatchObject({ code: 'Forbidden' });
    expect(err.message).not.toContain(host.dir);
    expect(err.detail).toContain(host.instancesDir);
  });
});
