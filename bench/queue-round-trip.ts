import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Principal } from '../lib/auth/principal.ts';
import { MAX_CONSOLE_WINDOW } from '../lib/contracts/messages.ts';
import { shapeConsoleOutput } from '../lib/console/shape-console-output.ts';
import { getConsoleOutput } from '../lib/console-output/get-console-output.ts';
import { createDocumentClient } from '../lib/directory/dynamodb-client.ts';
import { Directory } from '../lib/directory/directory.ts';
import { FilesDriver } from '../lib/hypervisors/files/files-driver.ts';
import { DEMO_SERVERS, writeDemoInstances } from '../lib/local/demo-servers.ts';
import { prepareEmbeddedEnv, startEmbeddedAws } from '../lib/local/embedded-aws.ts';
import { AGENT_COMMAND } from '../lib/local/local-stack.ts';
import { Requester } from '../lib/transport/requester.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';
import { startCountingProxy } from './sqs-counting-proxy.ts';
import { summarize } from './stats.ts';

const ADMIN: Principal = { userId: 'admin', projectId: 'admin', roles: ['admin'], isAdmin: true };

export interface RoundTripRow {
  path: string;
  concurrency: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
  errors: number;
}

/** Run `total` calls of `call` with `concurrency` in flight; latency per call and throughput. */
export async function load(total: number, concurrency: number, call: (i: number) => Promise<boolean>) {
  const samples: number[] = [];
  let next = 0;
  let errors = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      const ok = await call(i).catch(() => false);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (!ok) errors += 1;
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const s = summarize(samples);
  return { p50Ms: s.p50, p99Ms: s.p99, perSecond: total / seconds, errors };
}

function peakRssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? Number.NaN) / 1024);
}

/**
 * Console requests through the real transport: the edge use case in this process -> fauxqs ->
 * an agent process (files driver over the demo's real boot logs) -> reply queue. Beside it, the
 * limit: the same window read and shaped directly in this process.
 */
export async function benchQueueRoundTrip(options: { countSqs?: boolean; label?: string; plan?: Array<[number, number]> } = {}) {
  const aws = await startEmbeddedAws();
  const counter = options.countSqs ? await startCountingProxy(aws.sqsEndpoint) : undefined;
  const work = await mkdtemp(join(tmpdir(), 'vmconsole-bench-'));
  const instancesDir = join(work, 'instances');
  await writeDemoInstances(instancesDir);
  const env: Record<string, string> = {
    ...(await prepareEmbeddedEnv(aws, 'bench')),
    ...(counter && { VMCONSOLE_SQS_ENDPOINT: counter.endpoint }),
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  const fullEnv = { ...process.env, ...env };
  // The same host-record cache as the edge functions (lib/nova-api/edge-dependencies.ts).
  const directory = new Directory(createDocumentClient(fullEnv), env.VMCONSOLE_TABLE!, { hostCacheMs: 1_000 });
  const agent: ChildProcess = spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), {
    env: { ...fullEnv, VMCONSOLE_HOST: 'bench-host', VMCONSOLE_DRIVER: 'files', VMCONSOLE_INSTANCES_DIR: instancesDir, VMCONSOLE_LOG_ROOTS: instancesDir, VMCONSOLE_CONCURRENCY: '64' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const requester = new Requester({ sqs: createSqsClient(fullEnv), replyQueuePrefix: env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX! });
  try {
    while (!(await directory.getHost('bench-host'))) await new Promise((r) => setTimeout(r, 100));
    const server = DEMO_SERVERS[0];
    const driver = new FilesDriver({ instancesDir, roots: [instancesDir] });
    const expected = shapeConsoleOutput(await driver.readConsoleLog({ id: server.id, instanceName: server.id }, MAX_CONSOLE_WINDOW), null);
    const viaQueue = async () => (await getConsoleOutput({ principal: ADMIN, serverId: server.id, length: null, requestId: 'req-bench', deadline: Date.now() + 10_000 }, { directory, requester })) === expected;
    const direct = async () => shapeConsoleOutput(await driver.readConsoleLog({ id: server.id, instanceName: server.id }, MAX_CONSOLE_WINDOW), null) === expected;

    await load(200, 8, viaQueue); // warm-up: connections, JIT, reply queue creation
    counter?.reset();
    const rows: RoundTripRow[] = [];
    for (const [concurrency, requests] of options.plan ?? [[1, 300], [8, 1000], [64, 3000]] as Array<[number, number]>) {
      rows.push({ path: options.label ?? 'edge -> SQS -> agent -> reply', concurrency, requests, ...(await load(requests, concurrency, viaQueue)) });
    }
    const sqsCalls = counter?.snapshot();
    rows.push({ path: 'direct read in process (the limit)', concurrency: 1, requests: 1000, ...(await load(1000, 1, direct)) });
    return { rows, agentPeakRssMiB: await peakRssMiB(agent.pid!), sqsCalls };
  } finally {
    await requester.close();
    agent.kill('SIGTERM');
    await once(agent, 'exit');
    await counter?.close();
    await aws.stop();
    await rm(work, { recursive: true, force: true });
  }
}
