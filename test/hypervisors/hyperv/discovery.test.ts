import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HyperVDriver } from '../../../lib/hypervisors/hyperv/hyperv-driver.ts';
import { mapVms, pipePath } from '../../../lib/hypervisors/hyperv/list-vms.ts';
import { DISCOVERY_SCRIPT, runPowerShellJson } from '../../../lib/hypervisors/hyperv/powershell.ts';
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
    const { driver: d, logger } = driver({ timeoutMs: 700 });
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

    host.setMode('slow', 5_000);
    await waitFor(() => errors().length === 3, 10_000, 'the slow PowerShell to be killed and logged');
    expect(errors()[2]).toBe('PowerShell did not answer within 0.7 s and was killed');
    expect((await d.listServers()).map((s) => s.id)).toEqual([vm.serverId]);

    host.setMode('ok');
    await waitFor(() => logger.entries.some((e) => e.message === 'listing Hyper-V VMs works again'), 5_000, 'the recovery to be logged');
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
