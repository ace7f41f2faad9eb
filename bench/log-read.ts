import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CONSOLE_WINDOW } from '../lib/contracts/messages.ts';
import { readLogWindow } from '../lib/console/read-log-window.ts';
import { virtlogdRotation } from '../lib/console/rotated-log.ts';
import { shapeConsoleOutput } from '../lib/console/shape-console-output.ts';
import { summarize, type Summary } from './stats.ts';

const MiB = 1024 * 1024;
const LINE = Buffer.from('[    1.234567] a console line of ordinary length, as kernels print them\r\n');

/** A log of `size` bytes whose last 1 MiB is real text; the rest is a hole (sparse file). */
async function makeLog(path: string, size: number): Promise<void> {
  const tailSize = Math.min(size, MiB);
  const tail = Buffer.alloc(tailSize);
  for (let at = 0; at < tailSize; at += LINE.length) LINE.copy(tail, at);
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    await fh.write(tail, 0, tailSize, size - tailSize);
  } finally {
    await fh.close();
  }
}

async function timeReads(files: readonly string[], roots: string[], iterations: number): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < iterations + 20; i++) {
    const start = process.hrtime.bigint();
    const raw = await readLogWindow(files, MAX_CONSOLE_WINDOW, roots);
    shapeConsoleOutput(raw, null);
    if (i >= 20) samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summarize(samples);
}

export interface LogReadResult {
  case: string;
  fileBytes: number;
  p50Ms: number;
  p99Ms: number;
}

/** Window read + shaping cost against log size: it must not grow with the file. */
export async function benchLogRead(iterations = 300): Promise<LogReadResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-bench-logs-'));
  try {
    const results: LogReadResult[] = [];
    for (const [label, size] of [['1 MiB', MiB], ['100 MiB', 100 * MiB], ['4 GiB (sparse)', 4 * 1024 * MiB]] as const) {
      const base = join(dir, `single-${size}`, 'console.log');
      await rm(join(dir, `single-${size}`), { recursive: true, force: true });
      await mkdir(join(dir, `single-${size}`));
      await makeLog(base, size);
      const s = await timeReads(virtlogdRotation(base).files, [dir], iterations);
      results.push({ case: `single file ${label}`, fileBytes: size, p50Ms: s.p50, p99Ms: s.p99 });
    }
    // A rotated set whose live file is small: the window spans console.log, .0 and .1.
    const rotated = join(dir, 'rotated');
    await mkdir(rotated);
    await writeFile(join(rotated, 'console.log'), LINE.toString().repeat(200));
    await makeLog(join(rotated, 'console.log.0'), 40 * 1024);
    await makeLog(join(rotated, 'console.log.1'), 2 * MiB);
    await makeLog(join(rotated, 'console.log.2'), 2 * MiB);
    const s = await timeReads(virtlogdRotation(join(rotated, 'console.log')).files, [dir], iterations);
    results.push({ case: 'rotated set (live + .0 + .1)', fileBytes: 4 * MiB + 40 * 1024 + LINE.length * 200, p50Ms: s.p50, p99Ms: s.p99 });
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
