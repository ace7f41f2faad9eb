import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtlogdRotation } from '../lib/console/rotated-log.ts';
import { readLogWindow } from '../lib/console/read-log-window.ts';
import { DEFAULT_SHIP_EVERY_MS } from '../lib/history/console-history.ts';
import { HistoryStore, MAX_SEGMENT_BYTES, readSegments } from '../lib/history/history-store.ts';
import { createHistoryS3Client } from '../lib/history/s3-client.ts';
import { startLocalStack } from '../lib/local/local-stack.ts';
import { summarize, type Summary } from './stats.ts';

const ROUNDS = 20;
const RANGE_BYTES = 64 * 1024;
const RANGE_ROUNDS = 30;

/** S3 Standard, us-east-1, list prices (2026): PUT/LIST per 1,000, GET per 1,000, storage per GB-month. */
export const S3_PRICES = { putPer1000: 0.005, getPer1000: 0.0004, gbMonth: 0.023 };

export interface HistoryBenchResult {
  followApiMs: Summary;
  followCliMs: Summary;
  rangeRead: { case: string; bytes: number; p50Ms: number; p99Ms: number }[];
  cost: { mbPerDay: number; shipEveryMin: number; retentionDays: number; putsPerDay: number; putDollars: number; storageDollars: number; total: number; burstyPutsPerDay: number; burstyTotal: number };
}

/**
 * Console history on the `npm start` stack (the demo agent ships to fauxqs's S3 within a second):
 * follow latency from a line appended to a guest's log to (a) a waiting GET .../console?wait=20
 * answering, (b) a running `vmconsole logs --follow` printing it; a 64 KiB range read from S3
 * (store level and through the API after an agent restart, when the host holds none of it) against
 * the live log (readLogWindow, and the API from the host's memory); and the shipping cost per
 * server-month at 1 MB a day, computed from the shipping rules (two PUTs per ship: segment + head).
 */
export async function benchHistory(): Promise<HistoryBenchResult> {
  const workDir = await mkdtemp(join(tmpdir(), 'vmconsole-bench-history-'));
  const stack = await startLocalStack({ workDir, agentEnv: { VMCONSOLE_HISTORY_SHIP_MS: '1000' } });
  const token = { 'X-Auth-Token': 'demo:demo' };
  try {
    const server = stack.demoServers[1]!;
    const log = join(stack.instancesDir, server.id, 'console.log');
    const api = async (query: Record<string, string>) => {
      const res = await fetch(`${stack.url}/vmconsole/v1/servers/${server.id}/console?${new URLSearchParams(query)}`, { headers: token });
      if (res.status !== 200) throw new Error(`GET console answered ${res.status}: ${await res.text()}`);
      return await res.json() as { offset: number; next: number; end: number; data: string; bytes: number };
    };
    // (a) the API: a reader waiting at the end, a line written, the answer.
    const apiMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { end } = await api({ limit: '1' });
      const waiting = api({ since: String(end), wait: '20', format: 'raw' });
      await new Promise((r) => setTimeout(r, 150));
      const written = performance.now();
      await appendFile(log, `bench follow line ${round}\n`);
      const got = await waiting;
      if (!Buffer.from(got.data, 'base64').toString().includes(`bench follow line ${round}`)) throw new Error('the follow answer lacks the line written');
      apiMs.push(performance.now() - written);
    }
    // (b) the CLI, following.
    const cli = spawn(process.execPath, ['lib/cli/main.ts', 'logs', server.id, '--follow', '--lines', '1'], { env: { ...process.env, VMCONSOLE_URL: stack.url, VMCONSOLE_TOKEN: 'demo:demo' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const waiters: { text: string; resolve: () => void }[] = [];
    cli.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      for (const w of waiters.splice(0)) if (out.includes(w.text)) w.resolve(); else waiters.push(w);
    });
    const seen = (text: string) => new Promise<void>((resolve) => (out.includes(text) ? resolve() : waiters.push({ text, resolve })));
    await new Promise((r) => setTimeout(r, 3_000));
    const cliMs: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const line = `bench cli line ${round} ${Date.now()}`;
      const written = performance.now();
      await appendFile(log, `${line}\n`);
      await seen(line);
      cliMs.push(performance.now() - written);
      await new Promise((r) => setTimeout(r, 100));
    }
    cli.kill('SIGINT');
    await once(cli, 'exit');

    // Range reads: 64 KiB of a history that is all in S3 by now.
    await appendFile(log, Buffer.alloc(2 * RANGE_BYTES, 0x61));
    const store = new HistoryStore(createHistoryS3Client({ ...stack.env, VMCONSOLE_S3_ENDPOINT: stack.aws.sqsEndpoint }), stack.env.VMCONSOLE_HISTORY_BUCKET!);
    const { end } = await api({ limit: '1' });
    for (let i = 0; i < 100 && ((await store.getHead(server.id, 0))?.next ?? 0) < end; i++) await new Promise((r) => setTimeout(r, 200));
    const from = end - 2 * RANGE_BYTES;
    const timed = async (fn: () => Promise<unknown>) => {
      const samples: number[] = [];
      for (let i = 0; i < RANGE_ROUNDS; i++) {
        const t = performance.now();
        await fn();
        samples.push(performance.now() - t);
      }
      return summarize(samples);
    };
    const rows: HistoryBenchResult['rangeRead'] = [];
    const add = (name: string, s: Summary) => rows.push({ case: name, bytes: RANGE_BYTES, p50Ms: s.p50, p99Ms: s.p99 });
    add('live log, readLogWindow (the agent\'s own read)', await timed(() => readLogWindow(virtlogdRotation(log).files, RANGE_BYTES, [stack.instancesDir])));
    add('S3, list + ranged GET (HistoryStore)', await timed(async () => readSegments(store, await store.listSegments(server.id, 0, from, from + RANGE_BYTES), from, from + RANGE_BYTES)));
    add('API, bytes the host holds (memory)', await timed(() => api({ since: String(from), limit: String(RANGE_BYTES), format: 'raw' })));
    // A restarted agent holds nothing older than where it resumed: the same range comes from S3.
    stack.agent.kill('SIGTERM');
    await once(stack.agent, 'exit');
    await stack.startAgent({ VMCONSOLE_HISTORY_SHIP_MS: '1000' });
    add('API, bytes only S3 holds (after an agent restart)', await timed(() => api({ since: String(from), limit: String(RANGE_BYTES), format: 'raw' })));
    const check = Buffer.from((await api({ since: String(from), limit: String(RANGE_BYTES), format: 'raw' })).data, 'base64');
    const live = await readFile(log);
    if (!check.equals(live.subarray(live.length - 2 * RANGE_BYTES, live.length - RANGE_BYTES))) throw new Error('the S3 range read differs from the log');

    return { followApiMs: summarize(apiMs), followCliMs: summarize(cliMs), rangeRead: rows, cost: shippingCost() };
  } finally {
    await stack.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * What history costs per server-month at 1 MB of console output a day. A ship is two PUTs (the
 * segment, then the head); output is shipped at most DEFAULT_SHIP_EVERY_MS after it is written, so
 * output spread evenly over the day ships every period (the worst case); a server that prints its
 * boot and then little ships a few times a day (the usual case: taken as 4 ships a day). Segments
 * are at most MAX_SEGMENT_BYTES, so 1 MB a day never needs a second segment per ship. Storage at
 * steady state is retention x 1 MB; reads are the reader's (GETs at $0.0004 per 1,000) and not counted.
 */
export function shippingCost(mbPerDay = 1, retentionDays = 90): HistoryBenchResult['cost'] {
  const shipEveryMin = DEFAULT_SHIP_EVERY_MS / 60_000;
  const segmentsPerShip = Math.max(1, Math.ceil((mbPerDay * 1e6) / (1440 / shipEveryMin) / MAX_SEGMENT_BYTES));
  const putsPerDay = (1440 / shipEveryMin) * (1 + segmentsPerShip);
  const putDollars = (putsPerDay * 30 * S3_PRICES.putPer1000) / 1000;
  const storageDollars = ((mbPerDay * retentionDays) / 1000) * S3_PRICES.gbMonth;
  const burstyPutsPerDay = 4 * 2;
  const burstyPut = (burstyPutsPerDay * 30 * S3_PRICES.putPer1000) / 1000;
  return { mbPerDay, shipEveryMin, retentionDays, putsPerDay, putDollars, storageDollars, total: putDollars + storageDollars, burstyPutsPerDay, burstyTotal: burstyPut + storageDollars };
}
