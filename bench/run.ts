/**
 * `npm run bench`: log reading against log size, console requests through the queue at several
 * concurrencies beside the bare queue floor and the direct-read limit, through HTTP, and the SQS
 * cost model. Prints tables and writes bench/results.json.
 *
 * Each section is one entry of SECTIONS: a title and a function that measures, prints its table
 * and returns what goes into results.json under its key. Add a measurement by adding an entry.
 * `npm run bench -- queue http` runs only the sections with those keys (the queue section
 * measures the floor the HTTP rows are divided by).
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchLogRead } from './log-read.ts';
import { benchQueueRoundTrip, FLOOR_PATH, type RoundTripRow } from './queue-round-trip.ts';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { benchHttpRoundTrip } from './http-round-trip.ts';
import { benchIdleCost, SQS_PER_MILLION_REQUESTS, type IdleCost } from './idle-cost.ts';
import { benchRateLimiter } from './rate-limiter.ts';
import { benchHyperV } from './hyperv.ts';
import { DEFAULT_HIGH_WATER_BYTES } from '../lib/hypervisors/hyperv/capped-log-writer.ts';
import { benchAutomationBatch } from './automation-batch.ts';
import { benchFollower } from './follower.ts';
import { benchDiagnose } from './diagnose.ts';
import { benchDetection } from './detection.ts';
import { benchRemoteConsoles } from './remote-console-agent.ts';
import { downAfterMs } from '../lib/directory/host-liveness.ts';
import { round } from './stats.ts';
import { benchRemoteConsole } from './remote-console-relay.ts';
import { benchHistory } from './history.ts';

/** Issue 12: remote console session setup p50 and serial echo p50, locally. */
const CONSOLE_SETUP_P50_TARGET_MS = 300;
const CONSOLE_ECHO_P50_TARGET_MS = 10;
/** Issue 8: the agent's peak RSS with 64 requests in flight stays under this. */
const AGENT_RSS_TARGET_MIB = 100;
/** Issue 11: the crash analyser's p50 on a 100 KiB window. */
const DIAGNOSE_P50_TARGET_MS = 5;
/** Issue 11: from a panic to its diagnosis being published, p50. */
const DETECTION_P50_TARGET_MS = 2_000;
/** Issue 12: serial keystroke echo through the tunnel, p50. */
const SERIAL_ECHO_P50_TARGET_MS = 10;
/** Issue 8: what an idle host may cost a month. */
const IDLE_COST_TARGET = 0.10;
/** The heartbeat before issue 8, for the before/after idle cost. */
const FORMER_HEARTBEAT_MS = 10_000;
/** Debian's own Node (20 on Debian 12 and 13), which operators' hosts run the agent under. */
const SYSTEM_NODE = '/usr/bin/node';
/** Issue 8: end-to-end p50 at most this many times the bare queue floor's, at these concurrencies. */
const FLOOR_TARGET = { ratio: 1.5, concurrencies: [1, 8] };

interface BenchContext {
  /** The bare queue floor's p50 by concurrency, once the queue section has measured it. */
  floorP50Ms: Map<number, number>;
}
interface Section {
  key: string;
  title: string;
  run(ctx: BenchContext): Promise<object>;
}

const loadAverage = () => loadavg().map((x) => round(x, 2)).join(' / ');

/** Every end-to-end row also as a multiple of the floor at the same concurrency. */
function overFloor(ctx: BenchContext, row: RoundTripRow): number | undefined {
  const floor = ctx.floorP50Ms.get(row.concurrency);
  return floor === undefined ? undefined : round(row.p50Ms / floor, 2);
}

function printRoundTrips(ctx: BenchContext, rows: RoundTripRow[], extra: (r: RoundTripRow) => Record<string, unknown> = () => ({})): void {
  console.table(rows.map((r) => ({
    path: r.path, concurrency: r.concurrency, requests: r.requests, 'p50 ms': round(r.p50Ms), 'p99 ms': round(r.p99Ms),
    'req/s': Math.round(r.perSecond), errors: r.errors, 'p50 / floor': overFloor(ctx, r),
    'CPU ms/req edge, host': r.edgeCpuMs === undefined ? '' : `${round(r.edgeCpuMs)}, ${round(r.hostCpuMs!)}`,
    'round p50s ms': r.roundP50sMs && r.roundP50sMs.length > 1 ? r.roundP50sMs.map((x) => round(x, 1)).join(' ') : '',
    ...extra(r),
  })));
}

/** Issue 14: from a guest-log write to the API's (and the CLI's) output, p50. */
const FOLLOW_P50_TARGET_MS = 500;

const SECTIONS: Section[] = [
  {
    key: 'diagnose',
    title: `Crash analyser (diagnoseConsole) on a 100 KiB console window, and the follower's first stage per MiB (target p50 < ${DIAGNOSE_P50_TARGET_MS} ms)`,
    async run() {
      const bench = benchDiagnose();
      console.table(bench.rows.map((r) => ({ window: r.case, KiB: r.windowBytes / 1024, lines: r.lines, diagnosis: r.category, 'p50 ms': round(r.p50Ms, 3), 'p99 ms': round(r.p99Ms, 3), samples: r.samples })));
      console.table(bench.firstStage.map((r) => ({ 'first stage on': r.case, 'ms per MiB (4 KiB chunks)': round(r.msPerMiB, 2), 'says crash?': r.answer })));
      const worst = Math.max(...bench.rows.map((r) => r.p50Ms));
      console.log(`   target p50 < ${DIAGNOSE_P50_TARGET_MS} ms: worst window p50 ${round(worst, 3)} ms (${worst < DIAGNOSE_P50_TARGET_MS ? 'met' : 'missed'})`);
      return { ...bench, targetP50Ms: DIAGNOSE_P50_TARGET_MS, met: worst < DIAGNOSE_P50_TARGET_MS };
    },
  },
  {
    key: 'logRead',
    title: 'Reading the 100 KiB window (read + Nova shaping) against log size',
    async run() {
      const logRead = await benchLogRead();
      console.table(logRead.map((r) => ({ case: r.case, 'p50 ms': round(r.p50Ms, 3), 'p99 ms': round(r.p99Ms, 3) })));
      const ratio4GiB = logRead[2]!.p50Ms / logRead[0]!.p50Ms;
      console.log(`   4 GiB / 1 MiB p50 ratio: ${round(ratio4GiB, 2)}`);
      return { rows: logRead, ratio4GiB };
    },
  },
  {
    key: 'queue',
    title: 'Console requests through the real transport (edge in process -> fauxqs -> agent process), beside the bare queue floor',
    async run(ctx) {
      const queue = await benchQueueRoundTrip({ floor: true });
      for (const r of queue.rows) if (r.path === FLOOR_PATH) ctx.floorP50Ms.set(r.concurrency, r.p50Ms);
      const directP50 = queue.rows.at(-1)!.p50Ms;
      printRoundTrips(ctx, queue.rows, (r) => ({ 'p50 / direct': round(r.p50Ms / directP50, 1) }));
      const target = FLOOR_TARGET.concurrencies.map((c) => {
        const row = queue.rows.find((r) => r.concurrency === c && r.path !== FLOOR_PATH && r.roundP50sMs !== undefined);
        const ratio = row && overFloor(ctx, row);
        return { concurrency: c, ratio, met: ratio !== undefined && ratio <= FLOOR_TARGET.ratio };
      });
      console.log(`   target p50 <= ${FLOOR_TARGET.ratio} x floor: ${target.map((t) => `c=${t.concurrency} ${t.ratio} x (${t.met ? 'met' : 'missed'})`).join(', ')}`);
      console.log(`   agent peak RSS: ${round(queue.agentPeakRssMiB, 1)} MiB`);
      return { ...queue, floorTarget: target };
    },
  },
  {
    key: 'http',
    title: 'Through HTTP (serverless-offline), for the record',
    async run(ctx) {
      const http = await benchHttpRoundTrip();
      printRoundTrips(ctx, http);
      return { rows: http };
    },
  },
  {
    key: 'cost',
    title: 'Cost model: SQS calls counted by a proxy in front of fauxqs (500 requests, concurrency 8)',
    async run() {
      const counted = await benchQueueRoundTrip({ countSqs: true, plan: [[8, 500]] });
      const calls = counted.sqsCalls!;
      const perRequest = Object.fromEntries(Object.entries(calls.calls).map(([action, n]) => [action, round(n / 500, 3)]));
      const chunksPerRequest = calls.billedChunks / 500;
      const dollarsPerMillion = chunksPerRequest * SQS_PER_MILLION_REQUESTS;
      console.table(perRequest);
      console.log(`   billed 64 KB chunks per console request: ${round(chunksPerRequest, 2)} -> $${round(dollarsPerMillion, 2)} per million console requests (SQS only, $${SQS_PER_MILLION_REQUESTS}/M)`);
      return { perRequest, chunksPerRequest, dollarsPerMillion };
    },
  },
  {
    key: 'agentMemory',
    title: `Agent peak RSS with 64 requests in flight (3,000 requests), under this Node and under ${SYSTEM_NODE} (target < ${AGENT_RSS_TARGET_MIB} MiB)`,
    async run() {
      const nodes = [process.execPath, ...(existsSync(SYSTEM_NODE) ? [SYSTEM_NODE] : [])];
      const rows = [];
      for (const node of nodes) {
        const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
        for (let run = 1; run <= 2; run++) {
          const measured = await benchQueueRoundTrip({ plan: [[64, 3000]], agentNode: node });
          const row = measured.rows[0]!;
          rows.push({ node: version, run, 'peak RSS MiB': round(measured.agentPeakRssMiB, 1), 'req/s': Math.round(row.perSecond), errors: row.errors, 'under target': measured.agentPeakRssMiB < AGENT_RSS_TARGET_MIB });
        }
      }
      console.table(rows);
      return { rows };
    },
  },
  {
    key: 'rateLimiter',
    title: 'Rate limiter overhead per request (per-project + API-wide token buckets, 1,000 projects)',
    async run() {
      const limiter = benchRateLimiter();
      console.table([{ 'p50 ns': Math.round(limiter.p50Ns), 'p99 ns': Math.round(limiter.p99Ns), 'mean ns': Math.round(limiter.meanNs), samples: limiter.samples, batch: limiter.batch }]);
      return limiter;
    },
  },
  {
    key: 'automation',
    title: 'Queue-driven automation: one 1,000-server request over 4 agent processes (router in process, agents answer the client queue), SQS calls counted by a proxy',
    async run() {
      const automation = await benchAutomationBatch();
      console.table(automation.rows.map((r) => ({
        round: r.round, servers: r.servers, 'last reply ms': Math.round(r.lastReplyMs), 'replies/s': Math.round(r.repliesPerSecond),
        'router done ms': Math.round(r.routerMs), failed: r.failed, duplicates: r.duplicates,
      })));
      console.table(Object.fromEntries(Object.entries(automation.sqsCallsPerServerOutput).map(([action, n]) => [action, round(n, 3)])));
      console.log(`   SQS requests per server output: ${round(automation.sqsRequestsPerServerOutput, 3)}; billed 64 KB chunks per server output: ${round(automation.billedChunksPerServerOutput, 2)} -> $${round(automation.billedChunksPerServerOutput * SQS_PER_MILLION_REQUESTS, 2)} per million server outputs (SQS only)`);
      return automation;
    },
  },
  {
    key: 'idleCost',
    title: `Idle cost per host per month: a real idle agent's SQS and DynamoDB calls counted for 120 s, at the former 10 s heartbeat and today's default (target <= $${IDLE_COST_TARGET})`,
    async run() {
      const before = await benchIdleCost({ heartbeatMs: FORMER_HEARTBEAT_MS });
      const now = await benchIdleCost();
      const row = (label: string, c: IdleCost) => ({
        heartbeat: `${c.heartbeatMs / 1000} s (${label})`,
        'SQS $': round(c.dollarsPerMonth.sqs, 3), 'DynamoDB writes $': round(c.dollarsPerMonth.dynamodbWrites, 3),
        'DynamoDB reads $': round(c.dollarsPerMonth.dynamodbReads, 3), 'total $/host/month': round(c.dollarsPerMonth.total, 3),
        'heartbeats on provisioned capacity $': round(c.provisionedHeartbeatDollarsPerMonth, 3),
      });
      console.table([row('before', before), row('now', now)]);
      console.log(`   target <= $${IDLE_COST_TARGET}: ${now.dollarsPerMonth.total <= IDLE_COST_TARGET ? 'met' : 'missed'}; a dead host is reported down within ${downAfterMs({ heartbeatIntervalMs: now.heartbeatMs }) / 1000} s`);
      return { before, now };
    },
  },
  {
    key: 'detection',
    title: 'Crash detection on the local stack: the diagnosis published on SNS, from an event sent to the events queue, and from the panic line written (the agent\'s follower sends the event)',
    async run() {
      const d = await benchDetection();
      const row = (path: string, rounds: number, s: { p50: number; p99: number; mean: number }) => ({ path, rounds, 'p50 ms': round(s.p50), 'p99 ms': round(s.p99), 'mean ms': round(s.mean) });
      console.table([
        row('event sent -> diagnosis published', d.rounds, d.eventToPublishedMs),
        row('crashing boot appended, event sent -> published', d.rounds, d.logWriteToPublishedMs),
        row('panic written -> published (follower sends the event)', d.followerRounds, d.panicWrittenToPublishedMs),
      ]);
      console.log(`   target p50 < ${DETECTION_P50_TARGET_MS} ms from the panic line: ${d.panicWrittenToPublishedMs.p50 < DETECTION_P50_TARGET_MS ? 'met' : 'missed'}`);
      return d;
    },
  },
  {
    key: 'hyperv',
    title: 'Hyper-V collector: a flooding guest\'s pipe (a separate process) into the log rotating at 512 KiB, and reads while it rotates',
    async run() {
      const hv = await benchHyperV();
      console.table(hv.throughput.map((r) => ({ MiB: r.mib, s: round(r.seconds, 2), 'MiB/s': round(r.mibPerSecond, 1), 'agent CPU ms per MiB': round(r.cpuMsPerMiB, 2) })));
      console.log(`   writer peak queue: ${round(hv.peakQueuedKiB, 1)} KiB (bounded by the writer's ${DEFAULT_HIGH_WATER_BYTES / 1024} KiB high-water mark + one 4 KiB read)`);
      console.table(hv.reads.map((r) => ({ case: r.case, 'window KiB': r.windowBytes / 1024, 'read p50 ms': round(r.p50Ms, 3), 'read p99 ms': round(r.p99Ms, 3), 'read + shaping p50 ms': round(r.shapedP50Ms, 3) })));
      const libvirt = hv.reads[0]!;
      for (const r of hv.reads.filter((x) => x.windowBytes === 512 * 1024)) {
        console.log(`   ${r.case}: 512 KiB read p50 / libvirt window read p50 = ${round(r.p50Ms / libvirt.p50Ms, 2)} (with shaping: ${round(r.shapedP50Ms / libvirt.shapedP50Ms, 2)})`);
      }
      return hv;
    },
  },
  {
    key: 'follower',
    title: 'Log follower: agent CPU per MiB of console output followed across virtlogd rotation (writer in its own process), idle followers, and notice latency from a write to the consumer',
    async run() {
      const f = await benchFollower();
      console.table(f.cpu.map((r) => ({
        case: r.case, 'written MiB': r.writtenMiB, 'delivered MiB': round(r.deliveredMiB, 1), 'skipped MiB': round(r.skippedMiB, 1), s: round(r.seconds, 1), 'CPU ms per MiB': round(r.cpuMsPerMiB, 2),
      })));
      console.log(`   ${f.idle.followers} idle followers: ${round(f.idle.cpuMsPerSecond, 2)} ms CPU per second together (a stat per follower per second, inotify otherwise quiet)`);
      console.table(f.latency.map((r) => ({ mode: r.mode, samples: r.samples, 'p50 ms': round(r.p50Ms, 2), 'p99 ms': round(r.p99Ms, 2) })));
      return f;
    },
  },
  {
    key: 'remoteConsoleAgent',
    title: `Remote consoles, agent side: serial keystroke echo through the tunnel (target p50 < ${SERIAL_ECHO_P50_TARGET_MS} ms), VNC bytes/s through the tunnel, agent memory per open session`,
    async run() {
      const rc = await benchRemoteConsoles();
      console.table(rc.echo.map((r) => ({ path: r.path, samples: r.samples, 'p50 ms': round(r.p50Ms, 2), 'p99 ms': round(r.p99Ms, 2), 'mean ms': round(r.meanMs, 2) })));
      if (rc.guestSkipped) console.log(`   real guest row skipped: ${rc.guestSkipped}`);
      for (const r of rc.echo) console.log(`   ${r.path}: target p50 < ${SERIAL_ECHO_P50_TARGET_MS} ms ${r.p50Ms < SERIAL_ECHO_P50_TARGET_MS ? 'met' : 'missed'}`);
      console.log(`   VNC through the tunnel: ${round(rc.vnc.mib, 0)} MiB in ${round(rc.vnc.seconds, 2)} s = ${round(rc.vnc.mibPerSecond, 1)} MiB/s, agent CPU ${round(rc.vnc.agentCpuMsPerMiB, 2)} ms per MiB (source and relay stand-in in another process)`);
      console.log(`   ${rc.memory.sessions} idle VNC sessions: per session ${round(rc.memory.heapKiBPerSession, 1)} KiB heap, ${round(rc.memory.externalKiBPerSession, 1)} KiB buffers, ${round(rc.memory.rssKiBPerSession, 1)} KiB RSS`);
      return rc;
    },
  },
  {
    key: 'remoteConsoleRelay',
    title: `Remote consoles through the relay and a tunnel (fauxqs, dynalite, relay in process, the console host stand-in): setup (target p50 < ${CONSOLE_SETUP_P50_TARGET_MS} ms), serial echo (target p50 < ${CONSOLE_ECHO_P50_TARGET_MS} ms), bulk bytes/s, relay memory per session`,
    async run() {
      const r = await benchRemoteConsole();
      console.table([
        { figure: 'setup: API call to first RFB bytes in the browser socket', n: r.setupMs.n, 'p50 ms': round(r.setupMs.p50), 'p99 ms': round(r.setupMs.p99), target: `p50 < ${CONSOLE_SETUP_P50_TARGET_MS}` },
        { figure: 'serial echo round trip (1 byte)', n: r.echoMs.n, 'p50 ms': round(r.echoMs.p50, 3), 'p99 ms': round(r.echoMs.p99, 3), target: `p50 < ${CONSOLE_ECHO_P50_TARGET_MS}` },
      ]);
      console.log(`   bulk through the tunnel: ${round(r.mibPerSecond, 1)} MiB/s; JS heap + external per open serial session (relay and both test sockets): ${round(r.relayKiBPerSession, 1)} KiB`);
      return { ...r, targets: { setupP50Ms: CONSOLE_SETUP_P50_TARGET_MS, echoP50Ms: CONSOLE_ECHO_P50_TARGET_MS } };
    },
  },
  {
    key: 'history',
    title: `Console history on the local stack: follow latency (guest-log write -> API / CLI output, target p50 < ${FOLLOW_P50_TARGET_MS} ms), a 64 KiB range read from S3 vs the live log, and shipping cost per server-month at 1 MB/day`,
    async run() {
      const h = await benchHistory();
      const row = (path: string, s: { n: number; p50: number; p99: number; mean: number }) => ({ path, rounds: s.n, 'p50 ms': round(s.p50), 'p99 ms': round(s.p99), 'mean ms': round(s.mean) });
      console.table([row('line written -> GET .../console?wait=20 answers', h.followApiMs), row('line written -> vmconsole logs --follow prints it', h.followCliMs)]);
      console.log(`   target p50 < ${FOLLOW_P50_TARGET_MS} ms: API ${h.followApiMs.p50 < FOLLOW_P50_TARGET_MS ? 'met' : 'missed'}, CLI ${h.followCliMs.p50 < FOLLOW_P50_TARGET_MS ? 'met' : 'missed'}`);
      console.table(h.rangeRead.map((r) => ({ case: r.case, KiB: r.bytes / 1024, 'p50 ms': round(r.p50Ms), 'p99 ms': round(r.p99Ms) })));
      const c = h.cost;
      console.log(`   cost at ${c.mbPerDay} MB/day, shipped every ${c.shipEveryMin} min at worst, kept ${c.retentionDays} days: ${c.putsPerDay} PUT/day x 30 x $0.005/1000 = $${round(c.putDollars, 4)} + storage ${c.mbPerDay * c.retentionDays} MB x $0.023/GB = $${round(c.storageDollars, 4)} = $${round(c.total, 4)} per server-month (bursty output, ${c.burstyPutsPerDay} PUT/day: $${round(c.burstyTotal, 4)})`);
      return h;
    },
  },
];

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version };
console.log(`vmconsole benchmarks on ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
console.log(`load average (1 / 5 / 15 min) at start: ${loadAverage()}; figures from a loaded machine are noisy, ratios measured in interleaved rounds less so\n`);

const wanted = process.argv.slice(2);
const unknown = wanted.filter((key) => !SECTIONS.some((s) => s.key === key));
if (unknown.length > 0) throw new Error(`unknown bench section(s) ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.key).join(', ')}`);
const ctx: BenchContext = { floorP50Ms: new Map() };
const results: Record<string, unknown> = { date: new Date().toISOString(), machine, loadAverageAtStart: loadavg() };
for (const [i, section] of SECTIONS.entries()) {
  if (wanted.length > 0 && !wanted.includes(section.key)) continue;
  console.log(`${i + 1}. ${section.title}`);
  results[section.key] = { ...(await section.run(ctx)), loadAverageAfter: loadavg() };
  console.log(`   load average after: ${loadAverage()}\n`);
}
const out = fileURLToPath(new URL('./results.json', import.meta.url));
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`results written to ${out}`);
