import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CappedLogWriter } from '../../../lib/hypervisors/hyperv/capped-log-writer.ts';
import { DEFAULT_BACKOFF, PIPE_READ_BYTES, SerialPipeCollector } from '../../../lib/hypervisors/hyperv/serial-pipe-collector.ts';
import { numberedStream, startTestHyperVHost, type TestHyperVHost, type TestVm } from '../../helpers/hyperv-test-host.ts';
import { recordingLogger } from '../../helpers/recording-logger.ts';
import { sleep, waitFor } from '../../helpers/wait.ts';

const BOOT = Buffer.from('Hyper-V UEFI Release v4.1\r\nBooting `Windows Boot Manager\'\r\n[    0.000000] Linux version 6.1.0-28-amd64\r\n');
const FAST = { initialMs: 10, maxMs: 80 };

let host: TestHyperVHost;
let vm: TestVm;
let collector: SerialPipeCollector | undefined;
beforeEach(async () => {
  host = await startTestHyperVHost();
  vm = await host.addVm({ name: 'instance-00000001' });
});
afterEach(async () => {
  await collector?.stop();
  collector = undefined;
  await host.stop();
});

function collect(options: { capBytes?: number; highWaterBytes?: number; running?: boolean } = {}) {
  const logger = recordingLogger();
  const writer = new CappedLogWriter(join(host.instancesDir, vm.name, 'console.log'), options);
  collector = new SerialPipeCollector({ pipePath: vm.pipe('ro').path, writer, logger, label: vm.name, backoff: FAST });
  collector.start();
  return { writer, logger, collector };
}

/** The console log as the two files hold it, oldest first. */
async function logBytes(writer: CappedLogWriter): Promise<Buffer> {
  await writer.flush();
  const [live, backup] = await Promise.all(writer.rotation.files.map((f) => readFile(f).catch(() => Buffer.alloc(0))));
  return Buffer.concat([backup!, live!]);
}

describe('reading a serial pipe into the console log', () => {
  it('logs the boot text the pipe delivers, while nobody reads the log', async () => {
    const { writer } = collect();
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the collector to connect');
    await vm.pipe('ro').sendAll(BOOT);
    await waitFor(async () => (await logBytes(writer)).equals(BOOT), 5_000, 'the boot text in console.log');
  });

  it('a pipe that is not there yet (VM starting): retries with backoff, says so once, then logs from the first byte', async () => {
    await vm.stop();
    const { writer, logger } = collect();
    await sleep(600); // with waits of 10..80 ms, a dozen attempts
    expect(logger.entries.filter((e) => e.message.includes('not available yet'))).toHaveLength(1);
    expect(logger.entries.filter((e) => e.level === 'error' || e.level === 'warn')).toEqual([]);
    await vm.start();
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the collector to connect once the pipe exists');
    await vm.pipe('ro').sendAll(BOOT);
    await waitFor(async () => (await logBytes(writer)).equals(BOOT), 5_000, 'the boot text');
    expect(logger.entries.filter((e) => e.message === 'console pipe connected')).toHaveLength(1);
  });

  it('across broken pipes and VM restarts: every byte the pipe delivered is logged once, in order', async () => {
    const { writer } = collect({ capBytes: 64 * 1024 });
    const pipe = vm.pipe('ro');
    const stream = numberedStream(300 * 1024);
    let at = 0;
    let interruptions = 0;
    for (let round = 0; at < stream.length; round++) {
      await waitFor(() => pipe.connected, 5_000, `reconnection ${round}`);
      const piece = stream.subarray(at, at + 20_000 + round * 997);
      await pipe.sendAll(piece, 3000);
      at += piece.length;
      if (at >= stream.length) break;
      if (round % 3 === 0) pipe.breakConnection();
      else if (round % 3 === 1) await vm.restart();
      if (round % 3 !== 2) interruptions++;
      // round % 3 === 2: the pipe stays; the next piece follows on the same connection
    }
    expect(interruptions).toBeGreaterThanOrEqual(6);
    expect(collector!.connections).toBe(interruptions + 1);
    const delivered = pipe.delivered;
    expect(delivered.equals(stream)).toBe(true); // the stand-in only resends what it did not deliver
    await waitFor(() => writer.accepted === stream.length, 5_000, 'the collector to read all of it');
    expect(writer.accepted).toBe(stream.length); // nothing read twice
    // What the two files hold is exactly the stream's tail, cut where the rotations fall.
    const rotations = Math.floor((stream.length - 1) / (64 * 1024 - 1));
    const logged = await logBytes(writer);
    expect(logged.equals(stream.subarray(stream.length - logged.length))).toBe(true);
    expect(logged.length).toBe(stream.length - (rotations - 1) * (64 * 1024 - 1));
  });

  it('a flood bigger than the cap while the disk is held: the pipe is paused, memory stays bounded, nothing is lost', async () => {
    const highWaterBytes = 64 * 1024;
    const cap = 512 * 1024;
    const { writer } = collect({ capBytes: cap, highWaterBytes });
    const pipe = vm.pipe('ro');
    await waitFor(() => pipe.connected, 5_000, 'the collector to connect');
    const flood = numberedStream(3 * 1024 * 1024);
    // A read holds the writer for a while (a slow disk, as far as the collector can tell).
    const held = writer.whileHeld(() => sleep(400));
    const sending = pipe.sendAll(flood, 64 * 1024);
    await held;
    await sending;
    await waitFor(() => writer.accepted === flood.length, 10_000, 'the collector to read the whole flood');
    expect(writer.peakQueuedBytes).toBeGreaterThanOrEqual(highWaterBytes); // the pause did engage
    expect(writer.peakQueuedBytes).toBeLessThan(highWaterBytes + PIPE_READ_BYTES);
    const logged = await logBytes(writer);
    expect(logged.length).toBe(2 * (cap - 1) - (cap - 1) + (flood.length - 6 * (cap - 1)));
    expect(logged.equals(flood.subarray(flood.length - logged.length))).toBe(true);
  });

  it('stop() lets go of the pipe and closes the log; the VM\'s later output is not collected', async () => {
    const { writer } = collect();
    const pipe = vm.pipe('ro');
    await waitFor(() => pipe.connected, 5_000, 'the collector to connect');
    await pipe.sendAll(BOOT);
    await waitFor(async () => (await logBytes(writer)).equals(BOOT), 5_000, 'the boot text');
    await collector!.stop();
    await waitFor(() => !pipe.connected, 5_000, 'the pipe to be released');
    expect(await pipe.send(Buffer.from('after stop'))).toBe(false);
    await sleep(200);
    expect(pipe.connected).toBe(false);
    expect(() => writer.write(Buffer.from('x'))).toThrow(/closed/);
  });
});

describe('a stopped VM\'s armed collector', () => {
  /** Lets real I/O (a failed connect) happen while timers are fake. */
  const settle = async (check: () => boolean) => {
    for (let i = 0; i < 10_000 && !check(); i++) await new Promise((r) => setImmediate(r));
    expect(check()).toBe(true);
  };

  it('retries every few seconds, not every second: 1,000 stopped VMs are not 1,000 opens a second', async () => {
    await vm.stop();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const writer = new CappedLogWriter(join(host.instancesDir, vm.name, 'console.log'));
      collector = new SerialPipeCollector({ pipePath: vm.pipe('ro').path, writer, logger: recordingLogger(), label: vm.name });
      collector.pipeExpected = false;
      collector.start();
      await settle(() => vi.getTimerCount() === 1); // the first attempt failed; the retry waits
      const attempts = collector.attempts;
      vi.advanceTimersByTime(DEFAULT_BACKOFF.idleMs - 1);
      expect(vi.getTimerCount()).toBe(1); // the retry has not fired
      expect(collector.attempts).toBe(attempts);
      vi.advanceTimersByTime(1);
      expect(collector.attempts).toBe(attempts + 1);
      await settle(() => vi.getTimerCount() === 1);
      expect(DEFAULT_BACKOFF.idleMs).toBeGreaterThanOrEqual(5 * DEFAULT_BACKOFF.maxMs);
    } finally {
      vi.useRealTimers();
    }
  });

  it('connects at once when a listing sees the VM run, whatever is left of its wait', async () => {
    await vm.stop();
    const writer = new CappedLogWriter(join(host.instancesDir, vm.name, 'console.log'));
    collector = new SerialPipeCollector({ pipePath: vm.pipe('ro').path, writer, logger: recordingLogger(), label: vm.name, backoff: { ...FAST, idleMs: 600_000 } });
    collector.pipeExpected = false;
    collector.start();
    await waitFor(() => collector!.attempts === 1 && !collector!.connected, 5_000, 'the first attempt');
    await sleep(100);
    expect(collector.attempts).toBe(1);
    await vm.start();
    collector.pipeExpected = true;
    await waitFor(() => vm.pipe('ro').connected, 5_000, 'the collector to connect without waiting out its 10 minutes');
    await vm.pipe('ro').sendAll(BOOT);
    await waitFor(async () => (await logBytes(writer)).equals(BOOT), 5_000, 'the boot text');
  });
});

describe('when the console log cannot be written (disk full, permissions, a directory in its way)', () => {
  it('says so once, keeps reading the pipe (dropping what it cannot write), and writes again once it can', async () => {
    const logger = recordingLogger();
    const log = join(host.instancesDir, vm.name, 'console.log');
    await mkdir(log, { recursive: true }); // opening console.log for writing fails: EISDIR
    const writer = new CappedLogWriter(log, { retryMs: 0 });
    collector = new SerialPipeCollector({ pipePath: vm.pipe('ro').path, writer, logger, label: vm.name, backoff: FAST });
    collector.start();
    const pipe = vm.pipe('ro');
    await waitFor(() => pipe.connected, 5_000, 'the collector to connect');
    const errors = () => logger.entries.filter((e) => e.level === 'error');
    await pipe.sendAll(Buffer.from('lost 1\n'));
    await waitFor(() => errors().length === 1, 5_000, 'the failure to be logged');
    expect(errors()[0]!.data).toMatchObject({ vm: vm.name, error: expect.stringMatching(/EISDIR/) });
    for (let i = 2; i <= 5; i++) {
      await pipe.sendAll(Buffer.from(`lost ${i}\n`));
      await waitFor(() => writer.droppedBytes === 7 * i, 5_000, `line ${i} to be dropped`);
    }
    expect(errors()).toHaveLength(1); // one streak, one error
    expect(pipe.connected).toBe(true); // the guest is never made to wait for the disk

    await rm(log, { recursive: true });
    await pipe.sendAll(Buffer.from('kept\n'));
    await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')) === 'kept\n', 5_000, 'the log to be written again');
    expect(logger.entries.find((e) => e.message.includes('writable again'))?.data).toMatchObject({ vm: vm.name, droppedBytes: 35 });
    expect(collector.connections).toBe(1);
  });
});

describe('a pipe that takes the connection and closes it at once', () => {
  it('(another client holds it) is retried with the growing wait and said once, not a line and a reconnect every 50 ms', async () => {
    const pipe = vm.pipe('ro');
    const other = await pipe.holdByAnother();
    const { logger, writer } = collect();
    await waitFor(() => pipe.refused >= 5, 5_000, 'a few turned-away connections');
    const closedLines = logger.entries.filter((e) => e.message.includes('closed'));
    expect(closedLines.length).toBeLessThanOrEqual(1);
    expect(logger.entries.filter((e) => e.level === 'warn' || e.level === 'error')).toEqual([]);
    other.release();
    await waitFor(() => pipe.connected, 5_000, 'the collector to connect once the pipe is free');
    await pipe.sendAll(BOOT);
    await waitFor(async () => (await logBytes(writer)).equals(BOOT), 5_000, 'the boot text');
  });
});
