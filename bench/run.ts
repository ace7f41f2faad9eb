/**
 * `npm run bench`: log reading against log size, console requests through the queue at several
 * concurrencies (with the direct-read limit beside them), through HTTP, and the SQS cost model.
 * Prints tables and writes bench/results.json.
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchLogRead } from './log-read.ts';
import { benchQueueRoundTrip } from './queue-round-trip.ts';
import { benchHttpRoundTrip } from './http-round-trip.ts';
import { round } from './stats.ts';

const SQS_PRICE_PER_MILLION = 0.4; // standard queue, per million requests (64 KB chunks), us-east-1

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version };
console.log(`vmconsole benchmarks on ${machine.cores} x ${machine.cpu}, ${machine.memoryGiB} GiB, Node ${machine.node}\n`);

console.log('1. Reading the 100 KiB window (read + Nova shaping) against log size');
const logRead = await benchLogRead();
console.table(logRead.map((r) => ({ case: r.case, 'p50 ms': round(r.p50Ms, 3), 'p99 ms': round(r.p99Ms, 3) })));
const ratio4GiB = logRead[2]!.p50Ms / logRead[0]!.p50Ms;
console.log(`   4 GiB / 1 MiB p50 ratio: ${round(ratio4GiB, 2)}\n`);

console.log('2. Console requests through the real transport (edge in process -> fauxqs -> agent process)');
const queue = await benchQueueRoundTrip();
const directP50 = queue.rows.at(-1)!.p50Ms;
console.table(queue.rows.map((r) => ({
  path: r.path, concurrency: r.concurrency, requests: r.requests, 'p50 ms': round(r.p50Ms), 'p99 ms': round(r.p99Ms),
  'req/s': Math.round(r.perSecond), errors: r.errors, 'p50 / direct': round(r.p50Ms / directP50, 1),
})));
console.log(`   agent peak RSS: ${round(queue.agentPeakRssMiB, 1)} MiB\n`);

console.log('3. Through HTTP (serverless-offline), for the record');
const http = await benchHttpRoundTrip();
console.table(http.map((r) => ({ concurrency: r.concurrency, requests: r.requests, 'p50 ms': round(r.p50Ms), 'p99 ms': round(r.p99Ms), 'req/s': Math.round(r.perSecond), errors: r.errors })));

console.log('\n4. Cost model: SQS calls counted by a proxy in front of fauxqs (500 requests, concurrency 8)');
const counted = await benchQueueRoundTrip({ countSqs: true, plan: [[8, 500]] });
const calls = counted.sqsCalls!;
const perRequest = Object.fromEntries(Object.entries(calls.calls).map(([action, n]) => [action, round(n / 500, 3)]));
const chunksPerRequest = calls.billedChunks / 500;
const dollarsPerMillion = chunksPerRequest * SQS_PRICE_PER_MILLION;
console.table(perRequest);
console.log(`   billed 64 KB chunks per console request: ${round(chunksPerRequest, 2)} -> $${round(dollarsPerMillion, 2)} per million console requests (SQS only, $${SQS_PRICE_PER_MILLION}/M)\n`);

const results = { date: new Date().toISOString(), machine, logRead, ratio4GiB, queue, http, cost: { perRequest, chunksPerRequest, dollarsPerMillion } };
const out = fileURLToPath(new URL('./results.json', import.meta.url));
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(`results written to ${out}`);
