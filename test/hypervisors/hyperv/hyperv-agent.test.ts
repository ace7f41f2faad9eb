import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_FAILED } from '../../../lib/agent/exit-codes.ts';
import { AGENT_COMMAND } from '../../../lib/local/local-stack.ts';
import { HistoryStore, readSegments } from '../../../lib/history/history-store.ts';
import { createHistoryS3Client, ensureHistoryBucket } from '../../../lib/history/s3-client.ts';
import { kill, startAgentProcess } from '../../helpers/agent-process.ts';
import { startTestHyperVHost, type TestHyperVHost } from '../../helpers/hyperv-test-host.ts';
import { useLocalAws } from '../../helpers/suite-setup.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

// The installed agent (the bundle, as a real process) with VMCONSOLE_DRIVER=hyperv over the test
// Hyper-V host: what an operator sees in its log when PowerShell is missing or fails.
const aws = useLocalAws();
let host: TestHyperVHost;
beforeAll(async () => {
  host = await startTestHyperVHost();
});
afterAll(() => host?.stop());

const hypervEnv = (powershell: string) => ({
  VMCONSOLE_DRIVER: 'hyperv',
  VMCONSOLE_POWERSHELL: powershell,
  VMCONSOLE_HYPERV_PIPE_PATH: host.pipeTemplate,
  VMCONSOLE_INSTANCES_DIR: host.instancesDir,
  VMCONSOLE_HYPERV_POLL_MS: '1000',
});

/** JSON log lines of an agent's output file. */
const logLines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('a hyperv agent process', () => {
  let agent: ReturnType<typeof spawn> | undefined;
  afterEach(() => kill(agent));

  it('without PowerShell: refuses to start, saying which executable and which variable', async () => {
    const missing = join(host.dir, 'missing', 'powershell.exe');
    agent = spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), {
      env: { ...process.env, ...aws.env, VMCONSOLE_HOST: 'hv-missing', ...hypervEnv(missing), POWERTOOLS_LOG_LEVEL: 'INFO' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    agent.stdout!.on('data', (d) => (output += d));
    agent.stderr!.on('data', (d) => (output += d));
    const [code] = await once(agent, 'exit');
    expect(code).toBe(EXIT_FAILED);
    expect(output).toContain(`PowerShell executable '${missing}' was not found (set VMCONSOLE_POWERSHELL)`);
    expect(output).toContain('agent failed to start');
  });

  it('PowerShell failing after start: one error line, the VMs it knew stay in the directory and the host keeps heartbeating', async () => {
    const vm = await host.addVm({ name: 'instance-000000a1' });
    const logFile = join(host.dir, 'agent.log');
    agent = await startAgentProcess(aws.env, { host: 'hv-failing', directory: aws.directory, logFile, heartbeatMs: 500, extraEnv: { ...hypervEnv(host.powershell), POWERTOOLS_LOG_LEVEL: 'INFO' } });
    expect(await aws.directory.getServer(vm.serverId)).toMatchObject({ host: 'hv-failing', hypervisor: 'hyperv', instanceName: 'instance-000000a1' });
    host.setMode('fail');
    await waitFor(async () => (await logLines(logFile)).some((l) => l.level === 'ERROR'), 10_000, 'the failure in the agent log');
    const beat = (await aws.directory.getHost('hv-failing'))!.heartbeatAt;
    await sleep(3_000); // three polls fail meanwhile
    const errors = (await logLines(logFile)).filter((l) => l.level === 'ERROR');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ message: 'listing Hyper-V VMs failed; serving the VMs known from the last good listing', knownVms: 1 });
    expect(String(errors[0]!.reason)).toMatch(/^PowerShell exited with code 1: Get-VM : You do not have the required permission/);
    expect((await aws.directory.getHost('hv-failing'))!.heartbeatAt).toBeGreaterThan(beat);
    expect(await aws.directory.getServer(vm.serverId)).toBeDefined();
    host.setMode('ok');
    await host.removeVm(vm);
  });

  it('--check lists the VMs through PowerShell without connecting to any pipe', async () => {
    const vm = await host.addVm({ name: 'instance-000000a2' });
    const { stdout } = await promisify(execFile)(AGENT_COMMAND[0], [...AGENT_COMMAND.slice(1), '--check'], {
      env: { ...process.env, ...aws.env, VMCONSOLE_HOST: 'hv-check', ...hypervEnv(host.powershell) },
    }).catch((err: { stdout: string; stderr: string }) => ({ stdout: `${err.stdout}${err.stderr}` }));
    expect(stdout).toMatch(/^ok +hypervisor: Hyper-V through .*powershell; 1 server\(s\) listed/m);
    expect(vm.pipe('ro').connections).toBe(0);
    await host.removeVm(vm);
  });

  it('ships the history of both COM ports: COM1 as port 0, COM2 as port 1, byte for byte', async () => {
    const bucket = 'vmconsole-test-hv-ports';
    const s3 = createHistoryS3Client({ ...aws.env, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint });
    await ensureHistoryBucket(s3, bucket);
    const store = new HistoryStore(s3, bucket);
    const vm = await host.addVm({ name: 'instance-000000a3' }); // COM 1 ro, COM 2 rw
    agent = await startAgentProcess(
      { ...aws.env, VMCONSOLE_HISTORY_BUCKET: bucket, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint, VMCONSOLE_HISTORY_SHIP_MS: '1000' },
      { host: 'hv-ports', directory: aws.directory, logFile: join(host.dir, 'agent-ports.log'), heartbeatMs: 500, extraEnv: { ...hypervEnv(host.powershell), POWERTOOLS_LOG_LEVEL: 'INFO' } },
    );
    await waitFor(() => vm.pipe('ro').connected && vm.pipe('rw').connected, 10_000, 'both COM pipes collected');
    const com1 = Buffer.concat([Buffer.from('COM1 boot\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
    const com2 = Buffer.concat([Buffer.from('COM2 login: '), Buffer.from([0xff, 0xfe, 0x00, 0x1b]), Buffer.from(' é€\n')]);
    await vm.pipe('ro').sendAll(com1);
    await vm.pipe('rw').sendAll(com2);
    const shipped = (port: number, bytes: Buffer) =>
      waitFor(async () => {
        const head = await store.getHead(vm.serverId, port).catch(() => undefined);
        if (head?.next !== bytes.length) return false;
        return (await readSegments(store, await store.listSegments(vm.serverId, port, 0, bytes.length), 0, bytes.length)).equals(bytes);
      }, 20_000, `S3 to hold every byte of port ${port}`);
    await shipped(0, com1);
    await shipped(1, com2);
    await host.removeVm(vm);
  }, 60_000);
});
