/**
 * The log follower (lib/console/log-follower.ts): the agent's CPU per MiB of console output
 * followed across virtlogd rotation, what idle followers cost, and the notice latency from a
 * write to the consumer seeing it, through inotify and through the polling fallback.
 *
 * The writer of the CPU rows is a separate Node process rotating the log the way virtlogd does
 * (2 MiB max_size, renames oldest first), so process.cpuUsage of this process is the follower's
 * alone, as in the agent. It keeps 8 backups, not virtlogd's default 3: on a loaded machine the
 * writer catches up on its rate in bursts of several rotations, and files that fall off the set
 * before the follower is scheduled are lost to any reader (the row would then say delivered < written). The consumer only counts bytes: the analyser's scan is its
 * own figure.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_FOLLOWER_BYTES_PER_SECOND, LogFollower } from '../lib/console/log-follower.ts';
import { virtlogdRotation } from '../lib/console/rotated-log.ts';
import { summarize } from './stats.ts';

const MiB = 1024 * 1024;

/** virtlogd at a steady rate: lines appended in 64 KiB writes, rotated at 2 MiB keeping 8 backups. */
const WRITER = `
const fs = require('node:fs');
const [log, total, rate] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const line = Buffer.from('[    1.234567] a console line of ordinary length, as kernels print them\\r\\n');
const chunk = Buffer.alloc(64 * 1024);
for (let at = 0; at < chunk.length; at += line.length) line.copy(chunk, at);
const MAX = 2 * 1024 * 1024, BACKUPS = 8;
let fd = fs.openSync(log, 'a'), size = 0, sent = 0;
const started = Date.now();
const rotate = () => {
  fs.closeSync(fd);
  for (let i = BACKUPS - 1; i > 0; i--) { try { fs.renameSync(log + '.' + (i - 1), log + '.' + i); } catch {} }
  fs.renameSync(log, log + '.0');
  fd = fs.openSync(log, 'a'); size = 0;
};
const tick = () => {
  const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
  while (sent < due) {
    const piece = chunk.subarray(0, Math.min(chunk.length, due - sent, MAX - size));
    fs.writeSync(fd, piece); sent += piece.length; size += piece.length;
    if (size >= MAX) rotate();
  }
  if (sent < total) setTimeout(tick, 5); else { fs.closeSync(fd); process.stdout.write('done\\n'); }
};
tick();
`;

export interface FollowerCpuRow {
  case: string;
  writtenMiB: number;
  deliveredMiB: number;
  skippedMiB: number;
  seconds: number;
  cpuMsPerMiB: number;
}

export interface FollowerBench {
  cpu: FollowerCpuRow[];
  idle: { followers: number; seconds: number; cpuMsPerSecond: number };
  latency: { mode: string; samples: number; p50Ms: number; p99Ms: number }[];
}

/** Follows a log written by the separate writer process; CPU per MiB of what reached the follower (delivered or skipped). */
async function cpuRow(work: string, label: string, totalBytes: number, rate: number, bytesPerSecond: number): Promise<FollowerCpuRow> {
  const dir = await mkdtemp(join(work, 'cpu-'));
  const log = join(dir, 'console.log');
  await writeFile(log, '');
  let delivered = 0;
  let skipped = 0;
  const follower = new LogFollower({
    log: virtlogdRotation(log, 8),
    roots: [work],
    bytesPerSecond,
    onChunk: (chunk) => {
      delivered += chunk.length;
    },
    observer: { skipped: (e) => { skipped += e.bytes; } },
  });
  await follower.start();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const writer = spawn(process.execPath, ['-e', WRITER, log, String(totalBytes), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(writer.stdout!, 'data');
  const until = Date.now() + 30_000;
  while (follower.offset < totalBytes && Date.now() < until) await sleep(20);
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  await follower.stop();
  await rm(dir, { recursive: true, force: true });
  const seen = delivered + skipped;
  return {
    case: label,
    writtenMiB: totalBytes / MiB,
    deliveredMiB: delivered / MiB,
    skippedMiB: skipped / MiB,
    seconds,
    cpuMsPerMiB: (used.user + used.system) / 1000 / (seen / MiB),
  };
}

async function idleCost(work: string, count: number, seconds: number): Promise<FollowerBench['idle']> {
  const followers: LogFollower[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(work, `idle-${i}`);
    await mkdir(dir);
    await writeFile(join(dir, 'console.log'), 'booted\n');
    const follower = new LogFollower({ log: virtlogdRotation(join(dir, 'console.log')), roots: [work], onChunk: () => {} });
    await follower.start();
    followers.push(follower);
  }
  await sleep(1000);
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const used = process.cpuUsage(cpu);
  const elapsed = (performance.now() - t0) / 1000;
  await Promise.all(followers.map((f) => f.stop()));
  return { followers: count, seconds: elapsed, cpuMsPerSecond: (used.user + used.system) / 1000 / elapsed };
}

/**
 * A line written by this process after a random pause (up to a poll period when polling, so the
 * writes do not fall in step with the poll timer); the time until the consumer holds it.
 */
async function latency(work: string, mode: string, samples: number, options: { watch: boolean; pollMs?: number }): Promise<FollowerBench['latency'][number]> {
  const dir = await mkdtemp(join(work, 'latency-'));
  const log = join(dir, 'console.log');
  await writeFile(log, '');
  const rotation = virtlogdRotation(log, 3);
  const times: number[] = [];
  let waiting: { at: number; resolve: () => void } | undefined;
  const follower = new LogFollower({
    log: rotation,
    roots: [work],
    ...options,
    onChunk: () => {
      if (!waiting) return;
      times.push(performance.now() - waiting.at);
      waiting.resolve();
      waiting = undefined;
    },
  });
  await follower.start();
  for (let i = 0; i < samples; i++) {
    await sleep(50 + Math.random() * (options.watch ? 100 : options.pollMs ?? 1000));
    // Now and then across a rotation, as virtlogd does under a busy guest.
    if (i % 10 === 9) {
      await rotation.rotate();
      await writeFile(log, '');
      await sleep(options.watch ? 20 : (options.pollMs ?? 1000) + 50);
    }
    const seen = new Promise<void>((resolve) => { waiting = { at: performance.now(), resolve }; });
    await appendFile(log, `[${i}] a line from the guest\n`);
    await seen;
  }
  await follower.stop();
  await rm(dir, { recursive: true, force: true });
  const s = summarize(times);
  return { mode, samples: s.n, p50Ms: s.p50, p99Ms: s.p99 };
}

export async function benchFollower(): Promise<FollowerBench> {
  const work = await mkdtemp(join(tmpdir(), 'vmconsole-bench-follower-'));
  try {
    const cpu = [
      await cpuRow(work, 'keeps up: 64 MiB at 16 MiB/s, uncapped', 64 * MiB, 16 * MiB, Infinity),
      await cpuRow(work, `flood: 64 MiB at 16 MiB/s, capped at ${DEFAULT_FOLLOWER_BYTES_PER_SECOND / MiB} MiB/s (the rest skipped)`, 64 * MiB, 16 * MiB, DEFAULT_FOLLOWER_BYTES_PER_SECOND),
    ];
    const idle = await idleCost(work, 200, 5);
    const notice = [
      await latency(work, 'inotify', 100, { watch: true }),
      await latency(work, 'polling fallback (1 s)', 20, { watch: false, pollMs: 1000 }),
    ];
    return { cpu, idle, latency: notice };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
