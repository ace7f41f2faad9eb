/**
 * The Hyper-V collector: how fast a guest's serial output goes from its pipe into the rotated
 * console log, what that costs the agent's CPU per MiB, and what a read costs while the log
 * is being rotated under it, beside libvirt's window read on a virtlogd rotated set.
 *
 * The pipe stand-in is a separate Node process serving a Unix socket as fast as the socket
 * takes it (a flooding guest), so the CPU measured here (process.cpuUsage of this process) is
 * the collector's and the writer's, as in the agent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogWindow } from '../lib/console/read-log-window.ts';
import { virtlogdRotation } from '../lib/console/rotated-log.ts';
import { shapeConsoleOutput } from '../lib/console/shape-console-output.ts';
import { MAX_CONSOLE_WINDOW } from '../lib/contracts/messages.ts';
import { CappedLogWriter, DEFAULT_LOG_CAP_BYTES } from '../lib/hypervisors/hyperv/capped-log-writer.ts';
import { SerialPipeCollector } from '../lib/hypervisors/hyperv/serial-pipe-collector.ts';
import { summarize } from './stats.ts';

const MiB = 1024 * 1024;
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A guest writing to its serial port: serves `bytes` of kernel-like lines to the first client,
 * then closes (`bytes` 0: forever), as fast as the socket takes them or at `rate` bytes/s.
 */
const FLOODER = `
const net = require('node:net');
const [path, total, rate] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3] || 0)];
const line = Buffer.from('[    1.234567] a console line of ordinary length, as kernels print them\\r\\n');
const chunk = Buffer.alloc(64 * 1024);
for (let at = 0; at < chunk.length; at += line.length) line.copy(chunk, at);
const server = net.createServer((socket) => {
  let sent = 0;
  if (rate > 0) {
    const every = 10;
    const piece = chunk.subarray(0, Math.max(1, Math.round(rate * every / 1000)));
    setInterval(() => socket.write(piece), every);
    return;
  }
  const pump = () => {
    while (total === 0 || sent < total) {
      const piece = total === 0 ? chunk : chunk.subarray(0, Math.min(chunk.length, total - sent));
      sent += piece.length;
      if (!socket.write(piece)) return socket.once('drain', pump);
    }
    socket.end();
  };
  socket.on('error', () => {});
  pump();
});
server.listen(path, () => process.stdout.write('ready\\n'));
`;

async function startFlooder(path: string, bytes: number, rate = 0): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', FLOODER, path, String(bytes), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return child;
}

export interface HyperVThroughputRun {
  mib: number;
  seconds: number;
  mibPerSecond: number;
  cpuMsPerMiB: number;
}

export interface HyperVReadRow {
  case: string;
  windowBytes: number;
  /** The read alone; `shapedP50Ms` adds Nova's shaping (decoding) of the bytes read. */
  p50Ms: number;
  shapedP50Ms: number;
  p99Ms: number;
  n: number;
}

export interface HyperVBench {
  capBytes: number;
  throughput: HyperVThroughputRun[];
  reads: HyperVReadRow[];
  peakQueuedKiB: number;
}

/** One flood of `mib` MiB through a collector into a log rotating at the default cap. */
async function throughputRun(dir: string, mib: number): Promise<HyperVThroughputRun & { peakQueued: number }> {
  const pipe = join(dir, `pipe-${mib}-${Date.now()}`);
  const flooder = await startFlooder(pipe, mib * MiB);
  const writer = new CappedLogWriter(join(dir, `vm-${Date.now()}`, 'console.log'));
  const collector = new SerialPipeCollector({ pipePath: pipe, writer, logger: SILENT, label: 'bench' });
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  collector.start();
  // Polled every 10 ms (not spun on): the wait must not add to the CPU being measured.
  while (writer.accepted < mib * MiB) await new Promise((r) => setTimeout(r, 10));
  await writer.flush();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await collector.stop();
  flooder.kill();
  return { mib, seconds, mibPerSecond: mib / seconds, cpuMsPerMiB: (used.user + used.system) / 1000 / mib, peakQueued: writer.peakQueuedBytes };
}

/** p50/p99 of the read alone (the driver's part) and of read + Nova's shaping (what a request costs the agent). */
async function timeReads(read: () => Promise<Buffer>, iterations: number): Promise<{ p50: number; p99: number; n: number; shapedP50: number }> {
  const reads: number[] = [];
  const shaped: number[] = [];
  for (let i = 0; i < iterations + 20; i++) {
    const start = process.hrtime.bigint();
    const raw = await read();
    const readAt = process.hrtime.bigint();
    shapeConsoleOutput(raw, null);
    if (i < 20) continue;
    reads.push(Number(readAt - start) / 1e6);
    shaped.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const s = summarize(reads);
  return { p50: s.p50, p99: s.p99, n: s.n, shapedP50: summarize(shaped).p50 };
}

export async function benchHyperV(iterations = 300): Promise<HyperVBench> {
  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-bench-hv-'));
  try {
    const throughput = [];
    let peakQueued = 0;
    for (const mib of [64, 64, 64]) {
      const run = await throughputRun(dir, mib);
      peakQueued = Math.max(peakQueued, run.peakQueued);
      throughput.push({ mib: run.mib, seconds: run.seconds, mibPerSecond: run.mibPerSecond, cpuMsPerMiB: run.cpuMsPerMiB });
    }

    // libvirt's window read, as bench/log-read.ts measures it: a virtlogd rotated set, 100 KiB.
    const rotated = join(dir, 'libvirt');
    await mkdir(rotated);
    const line = '[    1.234567] a console line of ordinary length, as kernels print them\r\n';
    await writeFile(join(rotated, 'console.log'), line.repeat(200));
    for (const n of [0, 1, 2]) await writeFile(join(rotated, `console.log.${n}`), line.repeat(Math.ceil((n === 0 ? 40 * 1024 : 2 * MiB) / line.length)));
    const libvirt = await timeReads(() => readLogWindow(virtlogdRotation(join(rotated, 'console.log')).files, MAX_CONSOLE_WINDOW, [dir]), iterations);

    // Hyper-V reads (flush + read under the writer's lock + shaping, what the agent does) while a
    // guest's output makes the collector rotate every 512 KiB in this process: at 4 MiB/s (a
    // rotation every 128 ms; a real serial console prints far less) and as a flood.
    const reads: HyperVReadRow[] = [
      { case: 'libvirt: virtlogd rotated set, nothing writing', windowBytes: MAX_CONSOLE_WINDOW, p50Ms: libvirt.p50, shapedP50Ms: libvirt.shapedP50, p99Ms: libvirt.p99, n: libvirt.n },
    ];
    for (const [label, rate] of [['guest writing 4 MiB/s', 4 * MiB], ['guest flooding', 0]] as const) {
      const pipe = join(dir, `pipe-reads-${rate}`);
      const flooder = await startFlooder(pipe, 0, rate);
      const writer = new CappedLogWriter(join(dir, `vm-reads-${rate}`, 'console.log'));
      const collector = new SerialPipeCollector({ pipePath: pipe, writer, logger: SILENT, label: 'bench' });
      collector.start();
      while (writer.accepted < 2 * DEFAULT_LOG_CAP_BYTES) await new Promise((r) => setTimeout(r, 10));
      for (const window of [MAX_CONSOLE_WINDOW, 512 * 1024]) {
        const before = writer.accepted;
        const t = await timeReads(() => writer.whileHeld(() => readLogWindow(writer.rotation.files, window, [dir])), iterations);
        const rotations = Math.floor((writer.accepted - before) / (DEFAULT_LOG_CAP_BYTES - 1));
        reads.push({ case: `Hyper-V: ${label}, ${rotations} rotations during the reads`, windowBytes: window, p50Ms: t.p50, shapedP50Ms: t.shapedP50, p99Ms: t.p99, n: t.n });
      }
      await collector.stop();
      flooder.kill();
    }
    return { capBytes: DEFAULT_LOG_CAP_BYTES, throughput, reads, peakQueuedKiB: peakQueued / 1024 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
