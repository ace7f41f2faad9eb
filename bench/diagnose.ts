/**
 * The crash analyser's cost (issue 11: p50 < 5 ms on a 100 KiB window), on windows of the size the
 * Nova API returns:
 * - real boots: the newest 100 KiB of the real guest boot log repeated (six boots, the window ending
 *   in the newest one's VFS panic, starting mid-boot as a rotated log does);
 * - every signature: all the real fixtures of test/fixtures/diagnostics/ concatenated and repeated
 *   to 100 KiB, so each rule's pattern runs many times;
 * - random bytes: 100 KiB of garbage, no newline structure.
 * And the follower's first stage (mayContainCrash) in ms per MiB of console output, on the same
 * kinds of text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { diagnoseConsole } from '../lib/diagnostics/diagnose-console.ts';
import { mayContainCrash } from '../lib/diagnostics/first-stage.ts';
import { summarize } from './stats.ts';

const WINDOW = 100 * 1024;

export interface DiagnoseBenchRow {
  case: string;
  windowBytes: number;
  lines: number;
  category: string;
  p50Ms: number;
  p99Ms: number;
  samples: number;
}

export interface DiagnoseBench {
  rows: DiagnoseBenchRow[];
  firstStage: { case: string; msPerMiB: number; answer: boolean }[];
}

function repeatTo(bytes: Buffer, size: number): Buffer {
  const copies = Math.ceil(size / bytes.length) + 1;
  const all = Buffer.concat(Array.from({ length: copies }, () => bytes));
  return all.subarray(all.length - size);
}

function garbage(size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function windows(): { name: string; bytes: Buffer }[] {
  const boot = readFileSync(new URL('../fixtures/boot-logs/clean-boot-panic.log', import.meta.url));
  const dir = new URL('../test/fixtures/diagnostics/', import.meta.url);
  const signatures = Buffer.concat(readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => readFileSync(new URL(f, dir))));
  return [
    { name: 'real boots, ends in a panic', bytes: repeatTo(boot, WINDOW) },
    { name: 'every signature, repeated', bytes: repeatTo(signatures, WINDOW) },
    { name: 'random bytes', bytes: garbage(WINDOW) },
  ];
}

export function benchDiagnose(options: { samples?: number } = {}): DiagnoseBench {
  const samples = options.samples ?? 300;
  const rows: DiagnoseBenchRow[] = [];
  for (const { name, bytes } of windows()) {
    for (let i = 0; i < 30; i++) diagnoseConsole(bytes); // warm up the JIT
    const times: number[] = [];
    let last = diagnoseConsole(bytes);
    for (let s = 0; s < samples; s++) {
      const start = process.hrtime.bigint();
      last = diagnoseConsole(bytes);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const t = summarize(times);
    rows.push({ case: name, windowBytes: bytes.length, lines: last.lines, category: last.category, p50Ms: t.p50, p99Ms: t.p99, samples });
  }
  const firstStage = windows().map(({ name, bytes }) => {
    // 1 MiB in 4 KiB chunks, as a follower reads a growing log.
    const mib = repeatTo(bytes, 1024 * 1024);
    let answer = false;
    const runs = 20;
    const start = process.hrtime.bigint();
    for (let r = 0; r < runs; r++) for (let i = 0; i < mib.length; i += 4096) answer = mayContainCrash(mib.subarray(i, i + 4096)) || answer;
    return { case: name, msPerMiB: Number(process.hrtime.bigint() - start) / 1e6 / runs, answer };
  });
  return { rows, firstStage };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(benchDiagnose());
}
