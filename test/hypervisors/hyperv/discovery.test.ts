import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HyperVDriver } from '../../../lib/hypervisors/hyperv/hyperv-driver.ts';
import { mapVms, pipePath } from '../../../lib/hypervisors/hyperv/list-vms.ts';
import { DISCOVERY_SCRIPT, runPowerShellJson } from '../../../lib/hypervisors/hyperv/powershell.ts';
import { FAILURE_REASONS_PER_STREAK, VmInventory } from '../../../lib/hypervisors/hyperv/vm-inventory.ts';
import { recordedEntry, startTestHyperVHost, type TestHyperVHost } from '../../helpers/hyperv-test-host.ts';
import { recordingLogger } from '../../helpers/recording-logger.ts';
import { waitFor } from '../../helpers/wait.ts';

const FIXTURE = JSON.parse(readFileSync(new URL('../../fixtures/hyperv/discovery-output.json', import.meta.url), 'utf8')) as unknown[];

let host: TestHyperVHost;
const drivers: HyperVDriver[] = [];
beforeEach(async () => {
  host = await startTestHyperVHost();
});
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
  await host.stop();
});

function driver(options: { powershell?: string; timeoutMs?: number } = {}) {
  const logger = recordingLogger();
  const d = new HyperVDriver({
    powershell: options.powershell ?? host.powershell,
    pipePathTemplate: host.pipeTemplate,
    instancesDir: host.instancesDir,
    roots: [host.instancesDir],
    pollMs: 100,
    ...(options.timeoutMs !== undefined && { powershellTimeoutMs: options.timeoutMs }),
    backoff: { initialMs: 10, maxMs: 100 },
    logger,
  });
  drivers.push(d);
  return { driver: d, logger };
}

describe('mapping the recorded discovery output (test/fixtures/hyperv)', () => {
  const { vms, problems } = mapVms(FIXTURE);
  const byName = (name: string) => vms.find((vm) => vm.vmName === name)!;

  it('a Nova VM: the server id is the instance UUID from its notes, its name the instance name, the ro pipe logged', () => {
    expect(byName('instance-0000000a')).toMatchObject({
      serverId: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a0a', vmId: '6f2a2c1e-3b6d-4d8e-9a51-0c7b2e9d4f10', nova: true,
      name: 'instance-0000000a', state: 'active', pipesUp: true, secure: false, logDir: 'instance-0000000a',
      logPipe: { type: 'ro', comPort: 'COM 2', stem: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a0a' },
    });
    expect(pipePath('\\\\.\\pipe\\{uuid}_{type}', byName('instance-0000000a').logPipe!)).toBe('\\\\.\\pipe\\3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a0a_ro');
  });

  it('the rw pipe is logged only when there is no ro pipe; optional notes lines give project, user and name', () => {
    expect(byName('instance-0000000b')).toMatchObject({
      serverId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', state: 'stopped', pipesUp: false, projectId: 'demo', userId: 'alice', name: 'db-1',
      logPipe: { type: 'rw', comPort: 'COM 1' },
    });
  });

  it('a VM Nova did not create is known by its VM id; a pipe without Nova\'s suffix counts as rw ({name} reaches it)', () => {
    const vm = byName('lab build box');
    expect(vm).toMatchObject({ serverId: 'c2d6a1f0-0e5b-4f5e-bb9d-2a7f61e0c9a4', nova: false, logDir: 'c2d6a1f0-0e5b-4f5e-bb9d-2a7f61e0c9a4' });
    expect(vm.projectId).toBeUndefined();
    expect(pipePath('\\\\.\\pipe\\{name}', vm.logPipe!)).toBe('\\\\.\\pipe\\labpipe');
  });

  it('shielded VMs are secure; a saved VM without pipes has no log pipe', () => {
    expect(byName('instance-0000000c').secure).toBe(true);
    expect(byName('no-serial')).toMatchObject({ state: 'suspended', pipesUp: false });
    expect(byName('no-serial').logPipe).toBeUndefined();
  });

  it('a hostile name is data: kept as the name, never a path (its log goes under the VM id); notes that are not a UUID give no project', () => {
    const vm = vms.find((v) => v.vmId === '22222222-3333-4444-8555-666666666666')!;
    expect(vm.vmName).toBe('it\'s "quoted" $(Remove-Item C:\\ -Recurse) ; & calc');
    expect(vm).toMatchObject({ serverId: vm.vmId, logDir: vm.vmId, state: 'active', pipesUp: true });
    expect(vm.projectId).toBeUndefined();
    expect(problems).toEqual([]);
  });

  it('entries it cannot read are left out and named; a list that is not a list throws', () => {
    const { vms: some, problems: why } = mapVms([...FIXTURE.slice(0, 2), { Name: 'x', Id: 'not-a-guid', State: 'Running' }, 42]);
    expect(some).toHaveLength(2);
    expect(why).toEqual([expect.stringMatching(/^VM entry 2 left out: .*Id/), expect.stringMatching(/^VM entry 3 left out/)]);
    expect(() => mapVms('nope')).toThrow(/not a JSON array/);
    expect(mapVms(FIXTURE[0]).vms).toHaveLength(1); // one VM printed without an array around it
  });

  it('two VMs claiming one instance UUID (a copied VM): the first by VM id is kept, the other named', () => {
    const copy = { ...(FIXTURE[0] as object), Id: 'ffffffff-0000-4000-8000-000000000000', Name: 'copy' };
    const { vms: kept, problems: why } = mapVms([FIXTURE[0], copy]);
    expect(kept.map((v) => v.vmName)).toEqual(['instance-0000000a']);
    expect(why).toEqual([expect.stringContaining('which another VM already has')]);
  });
});

describe('asking PowerShell (a real subprocess standing in for powershell.exe)', () => {
  it('runs one fixed script with fixed arguments: no VM name is ever on its command line', async () => {
    host.setRawVms(FIXTURE);
    const { driver: d } = driver();
    const servers = await d.listServers();
    expect(servers.map((s) => s.id).sort()).toEqual(mapVms(FIXTURE).vms.map((v) => v.serverId).sort());
    expect(servers.find((s) => s.id === '7c9e6679-7425-40de-944b-e07fc1f90ae7')).toMatchObject({ name: 'db-1', projectId: 'demo', userId: 'alice', state: 'stopped', instanceName: 'instance-0000000b' });
    expect(servers.find((s) => s.instanceName === 'instance-0000000a')).toMatchObject({ projectId: 'unassigned', userId: 'unassigned', state: 'active' });
    const calls = host.calls();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.slice(0, 5)).toEqual(['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']);
    expect(Buffer.from(calls[0]![5]!, 'base64').toString('utf16le')).toBe(DISCOVERY_SCRIPT);
    expect(DISCOVERY_SCRIPT).not.toMatch(/instance-|\$\(Remove|quoted/);
  });

  it('missing PowerShell: a clear error naming the executable and the variable; nothing listed', async () => {
    const missing = join(host.dir, 'no-such-powershell.exe');
    await expect(runPowerShellJson(DISCOVERY_SCRIPT, { executable: missing })).rejects.toMatchObject({
      code: 'Internal', detail: `PowerShell executable '${missing}' was not found (set VMCONSOLE_POWERSHELL)`,
    });
    const { driver: d, logger } = driver({ powershell: missing });
    await d.start();
    await expect(d.listServers()).rejects.toThrow();
    expect(logger.entries.filter((e) => e.level === 'error')).toHaveLength(1); // one streak, one error, however many polls
    expect(logger.entries[0]!.data).toMatchObject({ reason: expect.stringContaining('was not found'), knownVms: 0 });
  });

  it('failing, garbage, slow: each logged once with its reason while the last good list is served', async () => {
    const vm = await host.addVm({ name: 'instance-00000001' });
    // Long enough that a PowerShell stand-in starting on a loaded CI machine is never mistaken for a slow one.
    const { driver: d, logger } = driver({ timeoutMs: 3_000 });
    await d.start();
    expect((await d.listServers()).map((s) => s.id)).toEqual([vm.serverId]);
    const errors = () => logger.entries.filter((e) => e.level === 'error').map((e) => String(e.data.reason));

    host.setMode('fail');
    await waitFor(() => errors().length === 1, 5_000, 'the failing PowerShell to be logged');
    expect(errors()[0]).toMatch(/^PowerShell exited with code 1: Get-VM : You do not have the required permission/);
    await new Promise((r) => setTimeout(r, 400)); // more failed polls: no more lines
    expect(errors()).toHaveLength(1);
    expect((await d.listServers()).map((s) => s.id)).toEqual([vm.serverId]);

    host.setMode('garbage');
    await waitFor(() => errors().length === 2, 5_000, 'garbage to be logged');
    expect(errors()[1]).toMatch(/^PowerShell printed something that is not JSON .*it began: "WARNING: /);

    host.setMode('slow', 20_000);
    await waitFor(() => errors().length === 3, 15_000, 'the slow PowerShell to be killed and logged');
    expect(errors()[2]).toBe('PowerShell did not answer within 3 s and was killed');
    expect((await d.listServers()).map((s) => s.id)).toEqual([vm.serverId]);

    host.setMode('ok');
    await waitFor(() => logger.entries.some((e) => e.message === 'listing Hyper-V VMs works again'), 5_000, 'the recovery to be logged');
  });

  it('stop() during a listing stops PowerShell and returns at once; being stopped is not logged as a failure', async () => {
    await host.addVm({ name: 'instance-00000001' });
    const { driver: d, logger } = driver();
    await d.start();
    host.setMode('slow', 60_000);
    const before = host.calls().length;
    await waitFor(() => host.calls().length > before, 5_000, 'a listing under way');
    await d.stop(); // a minute without stopping PowerShell: the test's own timeout says so
    expect(logger.entries.filter((e) => e.level === 'error' || e.level === 'warn')).toEqual([]);
    expect((await d.listServers()).length).toBe(1);
  });

  it('a host with 1,000 VMs is listed whole', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => recordedEntry(`${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`, {
      name: `instance-${i.toString(16).padStart(8, '0')}`, instanceUuid: `${String(i).padStart(8, '0')}-aaaa-4bbb-8ccc-dddddddddddd`, running: false,
      ports: [{ number: 1, type: 'ro' }],
    }, false));
    host.setRawVms(many);
    const { driver: d, logger } = driver();
    const servers = await d.listServers();
    expect(servers).toHaveLength(1000);
    expect(new Set(servers.map((s) => s.id)).size).toBe(1000);
    expect(logger.entries.filter((e) => e.level !== 'info')).toEqual([]);
  });
});

describe('what other PowerShells (or an operator\'s wrapper) print', () => {
  const ID = '0f0e0d0c-0b0a-4909-8807-060504030201';
  const UUID = '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a0a';
  const entry = (state: unknown) => ({ ...recordedEntry(ID, { name: 'instance-0000000a', instanceUuid: UUID, ports: [{ number: 1, type: 'ro' }] }, true), State: state });
  const one = (state: unknown) => {
    const { vms, problems } = mapVms([entry(state)]);
    expect(problems).toEqual([]);
    return vms[0]!;
  };

  it('State as VMState\'s number (Windows PowerShell 5.1 prints enums as numbers) means what its name means', () => {
    // Microsoft.HyperV.PowerShell.VMState's values, the same in every release up to ForceReboot.
    const cases: [number, string, string, boolean][] = [
      [1, 'Other', 'unknown', false], [2, 'Running', 'active', true], [3, 'Off', 'stopped', false], [4, 'Stopping', 'stopped', true],
      [6, 'Saved', 'suspended', false], [9, 'Paused', 'paused', true], [10, 'Starting', 'active', true], [11, 'Reset', 'active', true],
      [32773, 'Saving', 'suspended', true], [32776, 'Pausing', 'paused', true], [32777, 'Resuming', 'active', true],
      [32779, 'FastSaved', 'suspended', false], [32780, 'FastSaving', 'suspended', true],
    ];
    for (const [number, name, state, pipesUp] of cases) {
      expect(one(number), `State ${number}`).toMatchObject({ hyperVState: name, state, pipesUp });
      expect(one(String(number)), `State "${number}"`).toMatchObject({ hyperVState: name, state });
      expect(one(name), `State ${name}`).toMatchObject({ hyperVState: name, state, pipesUp });
    }
  });

  it('from 32783 on the numbers differ between Windows releases (Server 2016 has no Hibernated): unknown, not a guess', () => {
    for (const number of [32783, 32785, 32796]) expect(one(number), `State ${number}`).toMatchObject({ state: 'unknown', hyperVState: `VMState ${number}` });
    expect(one('RunningCritical')).toMatchObject({ state: 'active', pipesUp: true });
    expect(one('OffCritical')).toMatchObject({ state: 'stopped', pipesUp: false });
  });

  it('`Get-VM | ConvertTo-Json`\'s own shape: State a number, the pipes in ComPort1/ComPort2, no security flags', () => {
    const getVm = {
      Name: 'instance-0000000a', Id: ID, VMId: ID, State: 2, Notes: UUID, Generation: 2, ProcessorCount: 2, Uptime: { Ticks: 1 },
      ComPort1: { Path: `\\\\.\\pipe\\${UUID}_rw`, Name: 'COM 1', VMName: 'instance-0000000a' },
      ComPort2: { Path: `\\\\.\\pipe\\${UUID}_ro`, Name: 'COM 2', VMName: 'instance-0000000a' },
    };
    const { vms, problems } = mapVms(getVm); // one VM: no array around it
    expect(problems).toEqual([]);
    expect(vms).toHaveLength(1);
    expect(vms[0]).toMatchObject({ serverId: UUID, state: 'active', secure: false, logPipe: { type: 'ro', comPort: 'COM 2' } });
    // ConvertTo-Json beyond its depth prints a nested object as its type name: no pipe, not an error.
    const shallow = mapVms({ ...getVm, ComPort1: 'Microsoft.HyperV.PowerShell.VMComPort', ComPort2: 'Microsoft.HyperV.PowerShell.VMComPort' });
    expect(shallow.problems).toEqual([]);
    expect(shallow.vms[0]!.logPipe).toBeUndefined();
    // One port printed alone rather than in an array.
    expect(mapVms([{ ...entry('Running'), ComPorts: { Name: 'COM 1', Path: `\\\\.\\pipe\\${UUID}_ro` } }]).vms[0]!.logPipe).toMatchObject({ type: 'ro' });
  });

  it('nothing at all, or null, is a host without VMs (what `Get-VM | ConvertTo-Json` prints there)', () => {
    expect(mapVms(null)).toEqual({ vms: [], problems: [] });
  });

  it('warnings PowerShell writes before the JSON (stdout redirected, the console host prints them there) are not part of it', async () => {
    const vms = [entry('Running')];
    host.setOutputBytes(Buffer.from(`WARNING: The Hyper-V module 2.0 is loaded; module 1.1 commands are not available.\r\nVERBOSE: Loading module Hyper-V.\r\n${JSON.stringify(vms)}\r\n`));
    expect(await runPowerShellJson(DISCOVERY_SCRIPT, { executable: host.powershell })).toEqual(vms);
    host.setOutputBytes(Buffer.from('WARNING: nothing follows\r\n'));
    await expect(runPowerShellJson(DISCOVERY_SCRIPT, { executable: host.powershell })).rejects.toMatchObject({ detail: expect.stringMatching(/not JSON.*it began: "WARNING: nothing follows/) });
  });

  it('through the subprocess: a UTF-8 BOM with CRLF pretty printing, UTF-16LE with its BOM, and empty output', async () => {
    const vms = [entry(2), { ...entry('Off'), Id: 'ffffffff-0000-4000-8000-000000000000', Name: 'instance-0000000b', Notes: '7c9e6679-7425-40de-944b-e07fc1f90ae7' }];
    const pretty = JSON.stringify(vms, null, 4).replace(/\n/g, '\r\n');
    const { driver: d } = driver();
    host.setOutputBytes(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${pretty}\r\n`, 'utf8')]));
    expect(await runPowerShellJson(DISCOVERY_SCRIPT, { executable: host.powershell })).toEqual(vms);
    host.setOutputBytes(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${pretty}\r\n`, 'utf16le')]));
    expect(await runPowerShellJson(DISCOVERY_SCRIPT, { executable: host.powershell })).toEqual(vms);
    expect((await d.listServers()).map((s) => [s.id, s.state]).sort()).toEqual([[UUID, 'active'], ['7c9e6679-7425-40de-944b-e07fc1f90ae7', 'stopped']]);
    host.setOutputBytes(Buffer.from('\r\n'));
    const { driver: empty } = driver();
    expect(await empty.listServers()).toEqual([]);
  });
});

describe('the agent log over many polls', () => {
  const listings = (n: number) => waitFor(() => host.calls().length >= n, 20_000, `${n} listings`);

  it('a VM entry it cannot read is named once, not at every poll; again only once it was fixed and broke anew', async () => {
    const bad = { Name: 'x', Id: 'not-a-guid', State: 'Running' };
    host.setRawVms([...FIXTURE, bad]);
    const { driver: d, logger } = driver();
    await d.start();
    await listings(5);
    const warnings = () => logger.entries.filter((e) => e.level === 'warn');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.data).toMatchObject({ problem: expect.stringMatching(/^VM entry \d+ left out/) });
    host.setRawVms(FIXTURE);
    await listings(host.calls().length + 2);
    host.setRawVms([...FIXTURE, bad]);
    await listings(host.calls().length + 3);
    expect(warnings()).toHaveLength(2);
  });

  it('a failure whose words change at every poll is not an error line per poll', async () => {
    host.setMode('garbage-varying');
    const logger = recordingLogger();
    const inventory = new VmInventory({ executable: host.powershell, pollMs: 50, remindEvery: 8, logger, onList: () => undefined, onEvent: () => undefined });
    await inventory.start();
    try {
      await listings(17);
      const errors = logger.entries.filter((e) => e.level === 'error');
      // The first failure of the streak, a few new reasons, then a reminder every 8 failed listings.
      expect(errors.length).toBeLessThanOrEqual(FAILURE_REASONS_PER_STREAK + Math.floor(host.calls().length / 8));
      expect(errors.filter((e) => e.data.failedListings !== undefined).length).toBeGreaterThanOrEqual(1);
    } finally {
      await inventory.stop();
    }
  });
});
