import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Principal } from '../lib/auth/principal.ts';
import { MAX_CONSOLE_WINDOW, PROTOCOL_VERSION, type AgentRequest } from '../lib/contracts/messages.ts';
import type { AgentReply } from '../lib/transport/envelope.ts';
import { shapeConsoleOutput } from '../lib/console/shape-console-output.ts';
import { getConsoleOutput } from '../lib/console-output/get-console-output.ts';
import { FilesDriver } from '../lib/hypervisors/files/files-driver.ts';
import { DEMO_SERVERS, writeDemoInstances } from '../lib/local/demo-servers.ts';
import { prepareEmbeddedEnv, startEmbeddedAws } from '../lib/local/embedded-aws.ts';
import { AGENT_COMMAND } from '../lib/local/local-stack.ts';
import { enrolHost } from '../lib/agent/enrol-host.ts';
import { createEdgeDependencies } from '../lib/nova-api/wiring.ts';
import { startQueueFloor, type QueueFloor } from './queue-floor.ts';
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
  /** p50 of each round when the row was measured in rounds interleaved with the floor's. */
  roundP50sMs?: number[];
  /**
   * CPU time per request of this process (the edge, with fauxqs and dynalite in it) and of the
   * host process: unlike latency, hardly moved by other work on a loaded machine.
   */
  edgeCpuMs?: number;
  hostCpuMs?: number;
}

/** How many requests at which concurrency; `rounds` splits them into rounds interleaved with the floor's. */
export type LoadPlan = Array<[concurrency: number, requests: number, rounds?: number]>;

/** Run `total` calls of `call` with `concurrency` in flight; the latency of each. */
async function drive(total: number, concurrency: number, call: (i: number) => Promise<boolean>) {
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
  return { samples, seconds: Number(process.hrtime.bigint() - started) / 1e9, errors };
}

/** Run `total` calls of `call` with `concurrency` in flight; latency percentiles and throughput. */
export async function load(total: number, concurrency: number, call: (i: number) => Promise<boolean>) {
  const { samples, seconds, errors } = await drive(total, concurrency, call);
  const s = summarize(samples);
  return { p50Ms: s.p50, p99Ms: s.p99, perSecond: total / seconds, errors };
}

/**
 * `rounds` rounds of each path in turn, so that a machine whose load drifts during the run
 * (other work, thermal limits) weighs on every path alike. Percentiles over all samples.
 */
async function interleaved(paths: Array<{ path: string; call: () => Promise<boolean>; hostPid: number }>, concurrency: number, requests: number, rounds: number): Promise<RoundTripRow[]> {
  const acc = paths.map(() => ({ samples: [] as number[], seconds: 0, errors: 0, roundP50sMs: [] as number[], edgeCpuMs: 0, hostCpuMs: 0 }));
  const perRound = Math.ceil(requests / rounds);
  for (let r = 0; r < rounds; r++) {
    for (const [i, p] of paths.entries()) {
      const edgeCpu = process.cpuUsage();
      const hostCpu = await cpuMs(p.hostPid);
      const run = await drive(perRound, concurrency, p.call);
      const edgeSpent = process.cpuUsage(edgeCpu);
      acc[i]!.edgeCpuMs += (edgeSpent.user + edgeSpent.system) / 1000;
      acc[i]!.hostCpuMs += (await cpuMs(p.hostPid)) - hostCpu;
      acc[i]!.samples.push(...run.samples);
      acc[i]!.seconds += run.seconds;
      acc[i]!.errors += run.errors;
      acc[i]!.roundP50sMs.push(summarize(run.samples).p50);
    }
  }
  return paths.map((p, i) => {
    const s = summarize(acc[i]!.samples);
    return {
      path: p.path, concurrency, requests: perRound * rounds, p50Ms: s.p50, p99Ms: s.p99,
      perSecond: (perRound * rounds) / acc[i]!.seconds, errors: acc[i]!.errors, roundP50sMs: acc[i]!.roundP50sMs,
      edgeCpuMs: acc[i]!.edgeCpuMs / (perRound * rounds), hostCpuMs: acc[i]!.hostCpuMs / (perRound * rounds),
    };
  });
}

/** User + system CPU time of a process, all its threads, from /proc (10 ms ticks). */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, fixed at 100 on Linux

function peakRssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmHWM:\s+(\d+) kB/.exec(s)?.[1] ?? Number.NaN) / 1024);
}

export const FLOOR_PATH = 'bare queue floor (SQS request -> reply only)';
export const QUEUE_PATH = 'edge -> SQS -> agent -> reply';

/**
 * Console requests through the real transport: the edge use case in this process -> fauxqs ->
 * an agent process (files driver over the demo's real boot logs) -> reply queue. Beside it, the
 * limits: the bare queue floor over the same fauxqs (bench/queue-floor.ts), in rounds
 * interleaved with the end-to-end ones, and the same window read and shaped directly in this process.
 */
/** `agentNode`: the node binary the agent runs under (default: this process's, Node 24 from node_modules). */
export async function benchQueueRoundTrip(options: { countSqs?: boolean; label?: string; plan?: LoadPlan; floor?: boolean; agentNode?: string } = {}) {
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
  // The directory (with its record caches) and the requester exactly as an edge function builds them.
  const { directory, requester } = createEdgeDependencies({ ...fullEnv, VMCONSOLE_AUTH_MODE: 'noauth' });
  // Enrolment is the operator's, not the agent's: straight to fauxqs, uncounted.
  await enrolHost({ ...fullEnv, VMCONSOLE_SQS_ENDPOINT: aws.sqsEndpoint }, { host: 'bench-host', hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX! });
  const agent: ChildProcess = spawn(options.agentNode ?? AGENT_COMMAND[0], AGENT_COMMAND.slice(1), {
    env: { ...fullEnv, VMCONSOLE_HOST: 'bench-host', VMCONSOLE_DRIVER: 'files', VMCONSOLE_INSTANCES_DIR: instancesDir, VMCONSOLE_LOG_ROOTS: instancesDir, VMCONSOLE_CONCURRENCY: '64' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let floor: QueueFloor | undefined;
  try {
    while (!(await directory.getHost('bench-host'))) await new Promise((r) => setTimeout(r, 100));
    const server = DEMO_SERVERS[0];
    const driver = new FilesDriver({ instancesDir, roots: [instancesDir] });
    const expected = shapeConsoleOutput(await driver.readConsoleLog({ id: server.id, instanceName: server.id }, MAX_CONSOLE_WINDOW), null);
    const viaQueue = async () => (await getConsoleOutput({ principal: ADMIN, serverId: server.id, length: null, requestId: 'req-bench', deadline: Date.now() + 10_000 }, { directory, requester })) === expected;
    const direct = async () => shapeConsoleOutput(await driver.readConsoleLog({ id: server.id, instanceName: server.id }, MAX_CONSOLE_WINDOW), null) === expected;
    floor = options.floor ? await startQueueFloor({
      env,
      workDir: work,
      requestBody: JSON.stringify({ v: PROTOCOL_VERSION, kind: 'console.output', server: { id: server.id, instanceName: server.id }, length: null } satisfies AgentRequest),
      replyBody: JSON.stringify({ v: PROTOCOL_VERSION, ok: true, result: { output: expected } } satisfies AgentReply),
    }) : undefined;

    await load(200, 8, viaQueue); // warm-up: connections, JIT, reply queue creation
    if (floor) await load(200, 8, floor.call);
    counter?.reset();
    const paths = [
      ...(floor ? [{ path: FLOOR_PATH, call: floor.call, hostPid: floor.pid }] : []),
      { path: options.label ?? QUEUE_PATH, call: viaQueue, hostPid: agent.pid! },
    ];
    const rows: RoundTripRow[] = [];
    for (const [concurrency, requests, rounds = 1] of options.plan ?? [[1, 600, 6], [8, 1200, 4], [64, 3000, 2]] as LoadPlan) {
      rows.push(...(await interleaved(paths, concurrency, requests, rounds)));
    }
    const sqsCalls = counter?.snapshot();
    rows.push({ path: 'direct read in process (the limit)', concurrency: 1, requests: 1000, ...(await load(1000, 1, direct)) });
    return { rows, agentPeakRssMiB: await peakRssMiB(agent.pid!), sqsCalls };
  } finally {
    await floor?.close();
    await requester.close();
    agent.kill('SIGTERM');
    await once(agent, 'exit');
    await counter?.close();
    await aws.stop();
    await rm(work, { recursive: true, force: true });
  }
}
