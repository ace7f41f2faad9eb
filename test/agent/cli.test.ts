/**
 * The installed command line, spawned for real: the bin (as AGENT_COMMAND runs it) over the bundle
 * vitest's global setup built, against fauxqs + dynalite.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueueTagsCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, AGENT_COMMAND } from '../../lib/agent/agent-command.ts';
import { AGENT_VERSION } from '../../lib/agent/agent.ts';
import { AGENT_VARIABLES } from '../../lib/agent/config.ts';
import { EXIT_CONFIG, EXIT_FAILED } from '../../lib/agent/exit-codes.ts';
import { writeDemoInstances } from '../../lib/local/demo-servers.ts';
import { startLocalAws, type LocalAws } from '../helpers/aws-local.ts';
import { filesDriverEnv } from '../helpers/agent-process.ts';

interface Run { code: number; stdout: string; stderr: string }

function run(command: readonly string[], args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    // Only what the test gives: no VMCONSOLE_* leaks in from the developer's shell.
    const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
    execFile(command[0]!, [...command.slice(1), ...args], { env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}
const agent = (args: string[], env?: Record<string, string>) => run(AGENT_COMMAND, args, env);

describe('vmconsole-agent command line', () => {
  let aws: LocalAws;
  let work: string;
  let instancesDir: string;
  let filesHost: Record<string, string>;

  beforeAll(async () => {
    aws = await startLocalAws();
    work = await mkdtemp(join(tmpdir(), 'vmconsole-cli-'));
    instancesDir = join(work, 'instances');
    await writeDemoInstances(instancesDir);
    filesHost = { ...aws.env, VMCONSOLE_HOST: 'cli-host', ...filesDriverEnv(instancesDir) };
  });
  afterAll(async () => {
    await aws?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('--version prints the agent version', async () => {
    expect(await agent(['--version'])).toMatchObject({ code: 0, stdout: `${AGENT_VERSION}\n` });
  });

  it('--help lists every variable, saying which are required and the defaults of the others', async () => {
    const { code, stdout } = await agent(['--help']);
    expect(code).toBe(0);
    for (const variable of AGENT_VARIABLES) {
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`${variable.name} `));
      expect(line, variable.name).toBeDefined();
      if (variable.required) expect(line).toMatch(/\(required\)$/);
      else if (variable.default !== undefined) expect(line).toContain(`(default ${variable.default})`);
    }
  });

  it('a bad configuration stops it with one line per problem, naming the variable, and exit code 78', async () => {
    const missing = await agent([]);
    expect(missing.code).toBe(EXIT_CONFIG);
    expect(missing.stderr).toContain('vmconsole-agent: VMCONSOLE_HOST is required\nvmconsole-agent: VMCONSOLE_TABLE is required\n');
    const bad = await agent([], { VMCONSOLE_HOST: 'no spaces', VMCONSOLE_TABLE: 't-1' });
    expect(bad.code).toBe(EXIT_CONFIG);
    expect(bad.stderr).toContain('VMCONSOLE_HOST must be 1-60 of [A-Za-z0-9_-], not ending in -dlq (got "no spaces")');
  });

  it('an unsupported Node gets one clear line and exit code 78 before the bundle loads', async () => {
    // A real process on this machine's Node 20, told by a preload that it is Node 18.
    const fake = join(work, 'node18.cjs');
    await writeFile(fake, "Object.defineProperty(process, 'version', { value: 'v18.20.4' });\nObject.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.20.4' } });\n");
    const result = await run(['/usr/bin/node', '--require', fake, AGENT_BIN], ['--version']);
    expect(result).toEqual({ code: EXIT_CONFIG, stdout: '', stderr: 'vmconsole-agent: Node.js 20 or newer is required (this is v18.20.4 at /usr/bin/node)\n' });
  });

  it('--enrol creates the host queue and its DLQ, tagged with the stack\'s tags and the host, and exits 0; the agent then finds it', async () => {
    const before = await agent(['--check'], filesHost);
    expect(before.stdout).toMatch(/^FAIL sqs: host queue \S+cli-host does not exist: enrol this host first/m);
    const { code, stdout } = await agent(['--enrol'], { ...filesHost, VMCONSOLE_QUEUE_TAGS: 'service=vmconsole, stage=clitest,component=edge' });
    expect(stdout).toMatch(/^enrolled cli-host: queue http:\/\/\S+cli-host, dead-letter queue http:\/\/\S+cli-host-dlq\n$/);
    expect(code).toBe(0);
    const queueUrl = (await aws.sqs.send(new GetQueueUrlCommand({ QueueName: `${aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}cli-host` }))).QueueUrl!;
    const expected = { service: 'vmconsole', stage: 'clitest', component: 'edge', 'vmconsole-host': 'cli-host' };
    for (const url of [queueUrl, `${queueUrl}-dlq`]) expect((await aws.sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags).toEqual(expected);
    const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
    expect(JSON.parse(Attributes!.RedrivePolicy!).deadLetterTargetArn).toMatch(/cli-host-dlq$/);
  });

  it('--check reports every check ok and exits 0 when DynamoDB, SQS, the hypervisor and the log roots answer', async () => {
    const { code, stdout } = await agent(['--check'], filesHost);
    const lines = stdout.trim().split('\n');
    expect(lines).toEqual([
      `ok   config: host cli-host, driver files, table ${aws.env.VMCONSOLE_TABLE}`,
      'ok   dynamodb: ' + `table ${aws.env.VMCONSOLE_TABLE} answers; this host is not registered yet`,
      expect.stringMatching(new RegExp(`^ok   sqs: queue http://.+/${aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}cli-host ready, 0 message\\(s\\) waiting$`)),
      expect.stringMatching(new RegExp(`^ok   hypervisor: instances directory ${instancesDir} holds \\d+ entries; \\d+ server\\(s\\) listed$`)),
      `ok   log root ${instancesDir}: readable`,
    ]);
    expect(code).toBe(0);
  });

  it('--check says FAIL and why for each thing it cannot reach, and exits non-zero', async () => {
    const { code, stdout } = await agent(['--check'], {
      ...filesHost,
      VMCONSOLE_TABLE: 'no-such-table',
      VMCONSOLE_SQS_ENDPOINT: 'http://127.0.0.1:9',
      VMCONSOLE_LOG_ROOTS: `${instancesDir}:${join(work, 'absent')}`,
      VMCONSOLE_INSTANCES_DIR: join(work, 'absent'),
    });
    expect(code).toBe(EXIT_FAILED);
    expect(stdout).toMatch(/^FAIL dynamodb: table no-such-table does not exist in this region/m);
    expect(stdout).toMatch(/^FAIL sqs: .*ECONNREFUSED/m);
    expect(stdout).toMatch(new RegExp(`^FAIL hypervisor: .*ENOENT.*${join(work, 'absent')}`, 'm'));
    expect(stdout).toContain(`ok   log root ${instancesDir}: readable`);
    expect(stdout).toMatch(new RegExp(`^FAIL log root ${join(work, 'absent')}: .*ENOENT`, 'm'));
  });

  it('--check asks libvirt itself for the libvirt driver', async () => {
    const { code, stdout } = await agent(['--check'], { ...filesHost, VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: 'test:///nonexistent-vmconsole' });
    expect(code).toBe(EXIT_FAILED);
    expect(stdout).toMatch(/^FAIL hypervisor: .*virsh/m);
  });

  it('--check with a bad configuration lists the problems as FAIL lines and exits 78', async () => {
    const { code, stderr } = await agent(['--check'], { VMCONSOLE_HOST: 'h1' });
    expect(code).toBe(EXIT_CONFIG);
    expect(stderr).toBe('FAIL config: VMCONSOLE_TABLE is required\n');
  });
});
