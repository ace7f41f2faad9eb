/**
 * The agent as an operator installs it: the esbuild bundle with its launcher, run by this machine's
 * Debian Node 20 (/usr/bin/node), serving a real console request from the edge's use case over
 * fauxqs + dynalite; and the npm tarball whose bin starts it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, AGENT_NODE_FLAGS } from '../../lib/agent/agent-command.ts';
import { AGENT_VERSION } from '../../lib/agent/agent.ts';
import { MAX_CONSOLE_WINDOW } from '../../lib/contracts/messages.ts';
import { shapeConsoleOutput } from '../../lib/console/shape-console-output.ts';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import { FilesDriver } from '../../lib/hypervisors/files/files-driver.ts';
import { DEMO_SERVERS, writeDemoInstances } from '../../lib/local/demo-servers.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { buildAgent } from '../../scripts/build-agent.ts';
import { startLocalAws, type LocalAws } from '../helpers/aws-local.ts';
import { filesDriverEnv } from '../helpers/agent-process.ts';

const DEBIAN_NODE = '/usr/bin/node';
const ROOT = new URL('../..', import.meta.url).pathname;
const ADMIN = { userId: 'admin', projectId: 'admin', roles: ['admin'], isAdmin: true };
const sh = promisify(execFile);

describe('the bundled agent on Node 20', () => {
  let aws: LocalAws;
  let work: string;
  let agent: ChildProcess | undefined;
  let requester: Requester;

  beforeAll(async () => {
    aws = await startLocalAws();
    work = await mkdtemp(join(tmpdir(), 'vmconsole-bundle-'));
    requester = new Requester({ sqs: createSqsClient(aws.env), replyQueuePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! });
  });
  afterAll(async () => {
    agent?.kill('SIGKILL');
    await requester?.close();
    await aws?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('is Node 20 here: the test would prove nothing on a newer one', async () => {
    expect((await sh(DEBIAN_NODE, ['--version'])).stdout).toMatch(/^v20\./);
  });

  it('serves a real console request from a fresh build under /usr/bin/node, with no TypeScript anywhere near it', async () => {
    // The installed layout: bin/ beside dist/, nothing else of the repository.
    const install = join(work, 'install');
    const { bytes } = await buildAgent(join(install, 'dist/vmconsole-agent.mjs'));
    expect(bytes).toBeGreaterThan(0);
    await mkdir(join(install, 'bin'));
    await copyFile(AGENT_BIN, join(install, 'bin/vmconsole-agent.cjs'));
    const instancesDir = join(work, 'instances');
    await writeDemoInstances(instancesDir);

    const agentEnv = { PATH: process.env.PATH, ...aws.env, VMCONSOLE_HOST: 'node20-host', ...filesDriverEnv(instancesDir), VMCONSOLE_HEARTBEAT_MS: '500' };
    // The operator enrols the host first (its queue and DLQ), with the installed bundle too.
    const enrol = await sh(DEBIAN_NODE, [...AGENT_NODE_FLAGS, join(install, 'bin/vmconsole-agent.cjs'), '--enrol'], { cwd: work, env: agentEnv });
    expect(enrol.stdout).toContain('node20-host');
    const startedAt = Date.now();
    agent = spawn(DEBIAN_NODE, [...AGENT_NODE_FLAGS, join(install, 'bin/vmconsole-agent.cjs')], { cwd: work, env: agentEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr!.on('data', (chunk) => (stderr += chunk));
    for (let i = 0; ; i++) {
      const host = await aws.directory.getHost('node20-host');
      if (host && host.heartbeatAt >= startedAt) {
        expect(host.agentVersion).toBe(AGENT_VERSION);
        break;
      }
      if (i > 300 || agent.exitCode !== null) throw new Error(`the bundled agent did not register: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const server = DEMO_SERVERS[0];
    const raw = await new FilesDriver({ instancesDir, roots: [instancesDir] }).readConsoleLog({ id: server.id, instanceName: server.id }, MAX_CONSOLE_WINDOW);
    const output = await getConsoleOutput({ principal: ADMIN, serverId: server.id, length: 5, requestId: 'req-bundle-test', deadline: Date.now() + 10_000 }, { directory: aws.directory, requester });
    expect(output).toBe(shapeConsoleOutput(raw, 5));
    expect(output.split('\n').length).toBeGreaterThanOrEqual(5);

    agent.kill('SIGTERM');
    const [code] = await once(agent, 'exit');
    expect(code).toBe(0);
    agent = undefined;
  }, 90_000);

  it('npm pack gives a tarball whose vmconsole-agent bin starts the agent on Node 20', async () => {
    const packDir = join(work, 'pack');
    await mkdir(packDir);
    const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const [{ filename, files }] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: Array<{ path: string }> }];
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['bin/vmconsole-agent.cjs', 'dist/vmconsole-agent.mjs', 'dist/vmconsole-agent.mjs.map', 'deploy/vmconsole-agent.service']));
    expect(paths.filter((p) => p.endsWith('.ts'))).toEqual([]);

    await sh('tar', ['-xzf', join(packDir, filename), '-C', packDir]);
    const manifest = JSON.parse(await readFile(join(packDir, 'package/package.json'), 'utf8')) as { bin: Record<string, string> };
    const bin = join(packDir, 'package', manifest.bin['vmconsole-agent']!);
    expect(await readdir(join(packDir, 'package/dist'))).toContain('vmconsole-agent.mjs');
    const version = await sh(DEBIAN_NODE, [bin, '--version'], { env: { PATH: process.env.PATH } });
    expect(version.stdout).toBe(`${AGENT_VERSION}\n`);
  }, 120_000);
});
