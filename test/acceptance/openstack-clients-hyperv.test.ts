import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalStack } from '../../lib/local/local-stack.ts';
import { startTestHyperVHost, type TestHyperVHost, type TestVm } from '../helpers/hyperv-test-host.ts';
import { describeWithOpenStackClients, nova, openstack, type CliAuth } from '../helpers/openstack-cli.ts';
import { NOVA_WINDOW_BYTES, novaConsoleOutput, novaPrints, openstackPrints } from '../helpers/nova-console-formula.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { waitFor } from '../helpers/wait.ts';

// A Hyper-V host's agent (VMCONSOLE_DRIVER=hyperv) joined to the local stack, over the test
// Hyper-V host: a PowerShell stand-in listing its VMs and Unix sockets standing in for the VMs'
// serial pipes. The guest's output is real boot text fed through the pipe; the Debian clients
// must print exactly Nova's formula over the console log the agent's collector wrote.
const BOOT = readFileSync(fileURLToPath(new URL('../../fixtures/boot-logs/clean-boot-panic.log', import.meta.url)));
const CAP = 64 * 1024;

describeWithOpenStackClients('openstack and nova CLIs against a Hyper-V host', () => {
  const demo: CliAuth = { token: 'demo:demo' };
  const admin: CliAuth = { token: 'admin' };
  let running: TestStack | undefined;
  let stack: LocalStack;
  let endpoint: string;
  let hv: TestHyperVHost;
  let novaVm: TestVm;
  let taggedVm: TestVm;

  /** What the agent's collector has written for a VM, oldest first, once it holds `bytes` in total. */
  async function consoleLog(vm: TestVm, total: number): Promise<Buffer> {
    const dir = join(hv.instancesDir, vm.name);
    const read = async () => Buffer.concat(await Promise.all(['console.log.1', 'console.log'].map((f) => readFile(join(dir, f)).catch(() => Buffer.alloc(0)))));
    await waitFor(async () => (await read()).length === total, 10_000, `${vm.name}'s console log to hold ${total} bytes`);
    return read();
  }

  beforeAll(async () => {
    running = await startTestStack('hyperv-clients');
    ({ stack, endpoint } = running);
    hv = await startTestHyperVHost();
    // As Nova creates them: the instance UUID as the only note, pipes <uuid>_ro and <uuid>_rw.
    novaVm = await hv.addVm({ name: 'instance-0000002a' });
    // With vmconsole's optional notes lines, so its project's users see it by name.
    taggedVm = await hv.addVm({ name: 'instance-0000002b', notesExtra: ['project_id=demo', 'user_id=demo', 'name=hv-web-1'], ports: [{ number: 1, type: 'rw' }] });
    await stack.startAgent({
      VMCONSOLE_HOST: 'hv-host-1',
      VMCONSOLE_DRIVER: 'hyperv',
      VMCONSOLE_POWERSHELL: hv.powershell,
      VMCONSOLE_HYPERV_PIPE_PATH: hv.pipeTemplate,
      VMCONSOLE_INSTANCES_DIR: hv.instancesDir,
      VMCONSOLE_LOG_ROOTS: hv.instancesDir,
      VMCONSOLE_HYPERV_LOG_CAP_BYTES: String(CAP),
      VMCONSOLE_HYPERV_POLL_MS: '1000',
    });
    await waitFor(async () => (await stack.directory.getServer(taggedVm.serverId)) !== undefined, 20_000, 'the Hyper-V servers in the directory');
    await waitFor(() => novaVm.pipe('ro').connected && taggedVm.pipe('rw').connected, 20_000, 'the agent to collect both pipes');
  }, 120_000);
  afterAll(async () => {
    await running?.stop();
    await hv?.stop();
  });

  it('openstack console log show prints the boot text the VM sent through its ro pipe (by UUID, as admin: Nova VMs carry no project)', async () => {
    await novaVm.pipe('ro').sendAll(BOOT);
    const log = await consoleLog(novaVm, BOOT.length);
    expect(log.equals(BOOT)).toBe(true);
    const record = await stack.directory.getServer(novaVm.serverId);
    expect(record).toMatchObject({ name: 'instance-0000002a', host: 'hv-host-1', hypervisor: 'hyperv', projectId: 'unassigned', state: 'active' });

    const res = await openstack(endpoint, admin, ['console', 'log', 'show', novaVm.serverId]);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(res.stdout).toBe(openstackPrints(novaConsoleOutput(BOOT, null)));
    const five = await openstack(endpoint, admin, ['console', 'log', 'show', '--lines', '5', novaVm.serverId]);
    expect(five, five.stderr).toMatchObject({ code: 0, stdout: openstackPrints(novaConsoleOutput(BOOT, 5)) });
  });

  it('across rotation and a VM restart: exactly the last 100 KiB of console.log.1 + console.log, by name for its project', async () => {
    const pipe = taggedVm.pipe('rw');
    await pipe.sendAll(BOOT);
    await taggedVm.restart(); // the pipe goes away and comes back; the log is appended to, as in Nova
    await waitFor(() => pipe.connected, 20_000, 'the collector to reconnect after the restart');
    for (let i = 0; i < 4; i++) await pipe.sendAll(BOOT);
    const delivered = pipe.delivered;
    expect(delivered.length).toBe(5 * BOOT.length);
    // Five boot logs through files of CAP - 1 bytes: what the two files hold is the stream's tail.
    const rotations = Math.floor((delivered.length - 1) / (CAP - 1));
    const held = CAP - 1 + delivered.length - rotations * (CAP - 1);
    const log = await consoleLog(taggedVm, held);
    expect(log.equals(delivered.subarray(delivered.length - held))).toBe(true);
    const window = log.subarray(Math.max(0, log.length - NOVA_WINDOW_BYTES));

    const res = await openstack(endpoint, demo, ['console', 'log', 'show', 'hv-web-1']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(res.stdout).toBe(openstackPrints(novaConsoleOutput(window, null)));
    const tail = await nova(endpoint, demo, ['console-log', '--length', '3', 'hv-web-1']);
    expect(tail, tail.stderr).toMatchObject({ code: 0, stdout: novaPrints(novaConsoleOutput(window, 3)) });
  });
});
