import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.ts';
import { JOIN_VARIABLES } from '../../lib/local/stack-env.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAB_SERVER = { id: '7c1d0e2a-5b3f-4c6d-8e9f-0a1b2c3d4e5f', name: 'lab-vm', projectId: 'demo', userId: 'demo', state: 'active' };

let work: string;
let stack: LocalStack;
let joined: ChildProcess | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-local-stack-'));
  stack = await startLocalStack({ httpPort: 0, workDir: join(work, 'stack'), heartbeatMs: 1_000 });
});
afterAll(async () => {
  if (joined?.pid !== undefined && joined.exitCode === null) {
    process.kill(-joined.pid, 'SIGTERM');
    await once(joined, 'exit');
  }
  await stack?.stop();
  await rm(work, { recursive: true, force: true });
});

const token = { 'X-Auth-Token': 'demo:demo' };

describe('the local stack others can join', () => {
  it('writes the join environment to stack.env, one NAME=value per line', async () => {
    const lines = (await readFile(stack.envFile, 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => line.slice(0, line.indexOf('=')))).toEqual([...JOIN_VARIABLES]);
    expect(stack.env.VMCONSOLE_SQS_ENDPOINT).toBe(stack.aws.sqsEndpoint);
    expect(stack.env.VMCONSOLE_DYNAMODB_ENDPOINT).toBe(stack.aws.dynamodbEndpoint);
    expect(stack.env.VMCONSOLE_REPLY_QUEUE_URL_PREFIX).toMatch(/^http:\/\/[^/]+\/\d+\/vmconsole-local-reply-$/);
  });

  it('says in agent.log, at the default level, that the agent started', async () => {
    expect(await readFile(join(stack.workDir, 'agent.log'), 'utf8')).toContain('"message":"agent started"');
  });

  it('serves a host whose agent joined with `env $(cat stack.env) ... npm run agent`, its host enrolled with `... npm run agent -- --enrol`', async () => {
    const instances = join(work, 'lab-1');
    await mkdir(join(instances, LAB_SERVER.id), { recursive: true });
    const { id: _, ...record } = LAB_SERVER;
    await writeFile(join(instances, LAB_SERVER.id, 'instance.json'), JSON.stringify(record));
    await writeFile(join(instances, LAB_SERVER.id, 'console.log'), 'lab-1 booting\nlab-1 login:\n');
    // Exactly the lines npm start prints, with the files driver in place of libvirt.
    const agentEnv = 'VMCONSOLE_HOST=lab-1 VMCONSOLE_DRIVER=files VMCONSOLE_INSTANCES_DIR="$2" VMCONSOLE_LOG_ROOTS="$2" VMCONSOLE_HEARTBEAT_MS=1000';
    const command = `env $(cat "$1") ${agentEnv} npm run agent -- --enrol && env $(cat "$1") ${agentEnv} npm run agent`;
    joined = spawn('/bin/sh', ['-c', command, 'sh', stack.envFile, instances], { cwd: ROOT, detached: true, stdio: 'ignore' });

    await waitFor(async () => (await stack.directory.getHost('lab-1')) !== undefined, 60_000, 'the joined agent lab-1 to register');
    const res = await fetch(`${stack.url}/v2.1/servers/${LAB_SERVER.id}/action`, {
      method: 'POST', headers: { ...token, 'Content-Type': 'application/json' }, body: '{"os-getConsoleOutput": {}}',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ output: 'lab-1 booting\nlab-1 login:\n' });
  }, 90_000);

  it('without --libvirt, a demo server (files driver) answers Nova\'s 400 "Unavailable console type" to a VNC console request', async () => {
    const res = await fetch(`${stack.url}/v2.1/servers/${stack.demoServers[0].id}/remote-consoles`, {
      method: 'POST', headers: { ...token, 'Content-Type': 'application/json', 'OpenStack-API-Version': 'compute 2.6' },
      body: JSON.stringify({ remote_console: { protocol: 'vnc', type: 'novnc' } }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ badRequest: { code: 400, message: 'Unavailable console type vnc.' } });
  });

  /**
   * Every answer under the burst is what the API promises: the lists a 200 with the servers, the
   * console requests a 200 with the output or a Nova fault (a host may be slow to answer). serverless-offline answers a Lambda timeout or a crashed handler with HTTP 200 and
   * `{"errorMessage": ..., "errorType": ...}` as the body, which this would catch.
   */
  it('answers 64 concurrent server lists (half filtered by name) and 64 concurrent console requests with real answers', async () => {
    const demo = stack.demoServers.filter((server) => server.projectId === 'demo');
    const list = async () => {
      const res = await fetch(`${stack.url}/v2.1/servers`, { headers: token });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const consoleOutput = async () => {
      const res = await fetch(`${stack.url}/v2.1/servers/${demo[0]!.id}/action`, {
        method: 'POST', headers: { ...token, 'Content-Type': 'application/json' }, body: '{"os-getConsoleOutput": {}}',
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    // Nova's name filter is a regex run under a time budget; a busy machine must not cut it short.
    const filtered = async () => {
      const res = await fetch(`${stack.url}/v2.1/servers?name=${encodeURIComponent('^(web|db)-')}`, { headers: token });
      return { status: res.status, names: ((await res.json()) as { servers?: Array<{ name: string }> }).servers?.map((server) => server.name).sort() };
    };
    const began = Date.now();
    const [lists, outputs, filteredLists] = await Promise.all([
      Promise.all(Array.from({ length: 32 }, list)),
      Promise.all(Array.from({ length: 64 }, consoleOutput)),
      Promise.all(Array.from({ length: 32 }, filtered)),
    ]);
    console.info(`64 lists + 64 console requests answered in ${Date.now() - began} ms`);
    expect(filteredLists).toEqual(filteredLists.map(() => ({ status: 200, names: ['db-1', 'web-1'] })));
    const isFault = ({ status, body }: { status: number; body: Record<string, unknown> }) =>
      status >= 400 && Object.keys(body).length === 1 && typeof (Object.values(body)[0] as { message?: unknown }).message === 'string';

    for (const answer of lists) {
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body)).toEqual(['servers']);
      expect((answer.body.servers as Array<{ id: string }>).map((server) => server.id).sort()).toEqual(expect.arrayContaining(demo.map((server) => server.id)));
    }
    for (const answer of outputs) {
      if (isFault(answer)) continue;
      expect(answer.status).toBe(200);
      expect(Object.keys(answer.body)).toEqual(['output']);
      expect(answer.body.output).toContain('Kernel panic');
    }
    console.info(`console requests answered with a fault: ${outputs.filter(isFault).length} of 64`);
  }, 120_000);
  it('writes the EMF lines of a real request to its logs, the edge\'s and the agent\'s, under the request id the client sent', async () => {
    const requestId = `req-${randomUUID()}`;
    const server = DEMO_SERVERS[0]!;
    const res = await fetch(`${stack.url}/v2.1/servers/${server.id}/action`, {
      method: 'POST', headers: { ...token, 'Content-Type': 'application/json', 'X-OpenStack-Request-ID': requestId }, body: '{"os-getConsoleOutput": {"length": 3}}',
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('x-openstack-request-id')).toBe(requestId);
    const emf = async (log: string) => (await readFile(join(stack.workDir, log), 'utf8')).split('\n')
      .filter((line) => line.startsWith('{') && line.includes(requestId)).map((line) => JSON.parse(line) as Record<string, any>).find((line) => line._aws);
    let edge: Record<string, any> | undefined;
    let agent: Record<string, any> | undefined;
    await waitFor(async () => Boolean((edge = await emf('offline.log')) && (agent = await emf('agent.log'))), 10_000, 'EMF lines with the request id in offline.log and agent.log');
    const metrics = [{ Namespace: 'vmconsole', Dimensions: [['service', 'outcome']], Metrics: [{ Name: 'Requests', Unit: 'Count' }, { Name: 'Latency', Unit: 'Milliseconds' }] }];
    expect(edge).toMatchObject({ _aws: { CloudWatchMetrics: metrics }, service: 'vmconsole-edge', outcome: 'OK', Requests: 1, server: server.id, kind: 'POST /v2.1/servers/{server_id}/action os-getConsoleOutput' });
    expect(agent).toMatchObject({ _aws: { CloudWatchMetrics: metrics }, service: 'vmconsole-agent', outcome: 'OK', Requests: 1, server: server.id, kind: 'console.output' });
  });
});
