import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readLogWindow } from '../../../lib/console/read-log-window.ts';
import { CappedLogWriter, QueueBudget } from '../../../lib/hypervisors/hyperv/capped-log-writer.ts';
import { locate, numberedStream } from '../../helpers/hyperv-test-host.ts';

let dir: string;
let log: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmconsole-capped-'));
  log = join(dir, 'vm', 'console.log');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const onDisk = async () => {
  const names = (await readdir(join(dir, 'vm'))).sort();
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, 'vm', n))] as const)));
};

describe('rotation at the cap', () => {
  it('rotates to console.log.1 before the file would reach the cap: both files byte-exact, whatever the chunking', async () => {
    const cap = 1000;
    const stream = numberedStream(2500);
    for (const chunking of [1, 7, 999, 1000, 4096]) {
      rmSync(join(dir, 'vm'), { recursive: true, force: true });
      const writer = new CappedLogWriter(log, { capBytes: cap });
      for (let at = 0; at < stream.length; at += chunking) writer.write(Buffer.from(stream.subarray(at, at + chunking)));
      await writer.close();
      // 2500 bytes through files of at most 999: 999 + 999 rotated away (the first is replaced), 502 live.
      const files = await onDisk();
      expect(Object.keys(files), `chunks of ${chunking}`).toEqual(['console.log', 'console.log.1']);
      expect(files['console.log.1']!.equals(stream.subarray(999, 1998)), `chunks of ${chunking}`).toBe(true);
      expect(files['console.log']!.equals(stream.subarray(1998)), `chunks of ${chunking}`).toBe(true);
    }
  });

  it('continues a log that is already there (Nova appends across restarts), rotating when it is already at the cap', async () => {
    await mkdir(join(dir, 'vm'));
    await writeFile(log, 'abcdefgh');
    const writer = new CappedLogWriter(log, { capBytes: 10 });
    writer.write(Buffer.from('ij'));
    writer.write(Buffer.from('klm'));
    await writer.close();
    expect((await onDisk())['console.log.1']!.toString()).toBe('abcdefghi');
    expect((await onDisk())['console.log']!.toString()).toBe('jklm');

    await writeFile(log, 'x'.repeat(50)); // a bigger file than the cap, left by an earlier setting
    const again = new CappedLogWriter(log, { capBytes: 10 });
    again.write(Buffer.from('new'));
    await again.close();
    expect((await onDisk())['console.log.1']!.toString()).toBe('x'.repeat(50));
    expect((await onDisk())['console.log']!.toString()).toBe('new');
  });

  it('the default cap is os-win\'s 512 KiB: files hold at most 512 KiB - 1', async () => {
    const writer = new CappedLogWriter(log);
    const stream = numberedStream(600 * 1024);
    writer.write(stream);
    await writer.close();
    expect((await stat(`${log}.1`)).size).toBe(512 * 1024 - 1);
    expect((await stat(log)).size).toBe(600 * 1024 - (512 * 1024 - 1));
  });
});

describe('flush and reads', () => {
  it('whileHeld sees everything written before it, and nothing rotates during the read', async () => {
    const writer = new CappedLogWriter(log, { capBytes: 4096 });
    const stream = numberedStream(64 * 1024);
    let fed = 0;
    let reads = 0;
    // Reads race a writer that rotates every 4 KiB: writes are queued while each read is under
    // way, yet each read must be one contiguous piece of the stream that ends at or after what
    // was fed before the read was asked for, and is as long as the two files hold.
    while (fed < stream.length) {
      const feedChunk = () => {
        const chunk = stream.subarray(fed, fed + 1500);
        writer.write(Buffer.from(chunk));
        fed += chunk.length;
      };
      feedChunk();
      const askedAt = fed;
      const reading = writer.whileHeld(async () => {
        const bytes = await readLogWindow(writer.rotation.files, 6000, [dir]);
        const sizes = await Promise.all(writer.rotation.files.map((f) => stat(f).then((s) => s.size, () => 0)));
        return { bytes, held: sizes.reduce((a, b) => a + b, 0) };
      });
      if (fed < stream.length) feedChunk(); // queued while the read waits or runs
      const { bytes, held } = await reading;
      const start = locate(stream, bytes);
      expect(start, `read ${reads}`).toBeGreaterThanOrEqual(0);
      expect(start + bytes.length, `read ${reads} ends before what was fed when it was asked`).toBeGreaterThanOrEqual(askedAt);
      expect(bytes.length).toBe(Math.min(6000, held));
      reads++;
    }
    await writer.close();
    expect(reads).toBeGreaterThan(20);
  });

  it('flush resolves only once every byte accepted before it is in the file', async () => {
    const writer = new CappedLogWriter(log, { capBytes: 1 << 20 });
    for (let i = 0; i < 200; i++) writer.write(Buffer.from(`line ${i}\n`));
    await writer.flush();
    const text = await readFile(log, 'utf8');
    expect(text.split('\n')).toHaveLength(201);
    expect(text.endsWith('line 199\n')).toBe(true);
    await writer.close();
  });
});

describe('bounded memory', () => {
  it('write answers false above the high-water mark and onDrain fires once the queue is written', async () => {
    const writer = new CappedLogWriter(log, { capBytes: 1 << 30, highWaterBytes: 64 * 1024 });
    let accepted = true;
    let chunks = 0;
    while (accepted) {
      accepted = writer.write(Buffer.alloc(8192, 0x61));
      chunks++;
    }
    expect(chunks).toBe(8); // 8 x 8 KiB reaches 64 KiB
    await new Promise<void>((resolve) => writer.onDrain(resolve));
    expect(writer.write(Buffer.alloc(1, 0x62))).toBe(true);
    await writer.close();
    expect((await stat(log)).size).toBe(8 * 8192 + 1);
  });
});

describe('what it will not write to', () => {
  it('refuses a symbolic link planted as console.log and reports the failure instead of following it', async () => {
    const target = join(dir, 'elsewhere');
    await writeFile(target, 'precious');
    await mkdir(join(dir, 'vm'));
    await symlink(target, log);
    const writer = new CappedLogWriter(log);
    writer.write(Buffer.from('guest output'));
    await expect(writer.flush()).rejects.toThrow(/writing console log .*console\.log failed/);
    expect(await readFile(target, 'utf8')).toBe('precious');
    expect(writer.failure).toBeInstanceOf(Error);
    await writer.close();
  });
});

describe('when writing fails', () => {
  it('a read is still served from what is on disk while the log cannot be written, and writing resumes after it', async () => {
    await mkdir(join(dir, 'vm'));
    await writeFile(`${log}.1`, 'older\n');
    await symlink(join(dir, 'nowhere'), log); // planted: O_NOFOLLOW refuses it, the reader sees no live file
    const writer = new CappedLogWriter(log, { retryMs: 0 });
    writer.write(Buffer.from('lost\n'));
    const read = () => writer.whileHeld(() => readLogWindow(writer.rotation.files, 100, [dir]));
    expect((await read()).toString()).toBe('older\n');
    expect(writer.failure?.message).toMatch(/console\.log failed/);
    expect(writer.droppedBytes).toBe(5);
    rmSync(log);
    writer.write(Buffer.from('newer\n'));
    expect((await read()).toString()).toBe('older\nnewer\n');
    expect(writer.failure).toBeUndefined();
    await writer.close();
  });
});

describe('bounded memory across many VMs', () => {
  it('writers sharing a budget pause their pipes once the budget is queued, whatever each one\'s own bound, and resume once it drains', async () => {
    const budget = new QueueBudget(64 * 1024);
    const writers = [0, 1, 2, 3].map((i) => new CappedLogWriter(join(dir, `vm${i}`, 'console.log'), { capBytes: 1 << 30, highWaterBytes: 256 * 1024, budget }));
    // Every writer's disk is busy (a read holds each), so nothing queued is written yet.
    let release!: () => void;
    const busy = new Promise<void>((resolve) => { release = resolve; });
    const held = writers.map((w) => w.whileHeld(() => busy));
    let accepted = 0;
    const paused = new Set<number>();
    for (let round = 0; paused.size < writers.length && round < 1000; round++) {
      for (const [i, w] of writers.entries()) {
        if (paused.has(i)) continue;
        accepted += 8192;
        if (!w.write(Buffer.alloc(8192, 0x61 + i))) paused.add(i);
      }
    }
    expect(paused.size).toBe(4);
    expect(accepted).toBeLessThanOrEqual(64 * 1024 + 4 * 8192); // the budget, plus the write that found it spent
    expect(budget.used).toBe(accepted);
    const drained = writers.map((w) => new Promise<void>((resolve) => w.onDrain(resolve)));
    release();
    await Promise.all(held);
    await Promise.all(drained);
    await Promise.all(writers.map((w) => w.close()));
    expect(budget.used).toBe(0);
    const sizes = await Promise.all(writers.map((_, i) => stat(join(dir, `vm${i}`, 'console.log')).then((s) => s.size)));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(accepted);
  });
});

describe('when rotating fails (on Windows: a program holding console.log open without sharing delete)', () => {
  it('keeps appending past the cap, says so once, and rotates as soon as it can: nothing is dropped', async () => {
    await mkdir(join(dir, 'vm', 'console.log.1', 'in-the-way'), { recursive: true }); // renaming over it fails
    const changes: string[] = [];
    const writer = new CappedLogWriter(log, { capBytes: 10, retryMs: 0 });
    writer.onStateChange((change) => changes.push(change.type));
    writer.write(Buffer.from('123456789'));
    writer.write(Buffer.from('abc'));
    await writer.flush();
    writer.write(Buffer.from('def'));
    await writer.flush();
    expect(await readFile(log, 'utf8')).toBe('123456789abcdef');
    expect(writer.droppedBytes).toBe(0);
    expect(writer.failure).toBeUndefined();
    expect(changes).toEqual(['rotation-failed']);
    rmSync(join(dir, 'vm', 'console.log.1'), { recursive: true });
    writer.write(Buffer.from('ghi'));
    await writer.close();
    expect(await readFile(`${log}.1`, 'utf8')).toBe('123456789abcdef');
    expect(await readFile(log, 'utf8')).toBe('ghi');
    expect(changes).toEqual(['rotation-failed', 'rotated-again']);
  });
});

describe('the retry wait after a failure', () => {
  it('is not lengthened by the wall clock jumping back (an NTP step): it counts elapsed time', async () => {
    await mkdir(join(dir, 'vm'));
    await symlink(join(dir, 'nowhere'), log);
    const writer = new CappedLogWriter(log, { retryMs: 50 });
    writer.write(Buffer.from('lost\n'));
    await writer.flush().catch(() => undefined);
    expect(writer.failure).toBeDefined();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() - 3_600_000);
      rmSync(log);
      await new Promise((r) => setTimeout(r, 200)); // well past the 50 ms wait, in elapsed time
      writer.write(Buffer.from('kept\n'));
      await writer.flush();
    } finally {
      vi.useRealTimers();
    }
    expect(await readFile(log, 'utf8')).toBe('kept\n');
    await writer.close();
  });
});
