import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { appendFile, mkdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFollower } from '../../lib/console/log-follower.ts';
import { hypervRotation, virtlogdRotation } from '../../lib/console/rotated-log.ts';
import { CappedLogWriter } from '../../lib/hypervisors/hyperv/capped-log-writer.ts';
import { FollowRecorder } from '../helpers/follow-recorder.ts';
import { sleep } from '../helpers/wait.ts';

let root: string;
let dir: string;
let log: string;
const recorders: FollowRecorder[] = [];

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'vmconsole-follow-'));
  dir = join(root, 'instance');
  await mkdir(dir);
  log = join(dir, 'console.log');
});
afterEach(async () => {
  await Promise.all(recorders.splice(0).map((r) => r.follower.stop()));
  rmSync(root, { recursive: true, force: true });
});

async function follow(options: Partial<ConstructorParameters<typeof FollowRecorder>[0]> = {}): Promise<FollowRecorder> {
  const recorder = new FollowRecorder({ log: virtlogdRotation(log), roots: [root], ...options });
  recorders.push(recorder);
  await recorder.follower.start();
  return recorder;
}

/** A seeded generator, so a failing run can be replayed: mulberry32. */
function seeded(seed: number): (below: number) => number {
  let a = seed >>> 0;
  return (below) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

/** Offsets only grow and chunks are contiguous unless a skip was reported between them. */
function expectContiguous(r: FollowRecorder): void {
  let next = 0;
  for (const { chunk, info } of r.chunks) {
    const skippedBefore = r.of('skipped').filter((s) => s.offset >= next && s.offset + s.bytes <= info.offset).reduce((n, s) => n + s.bytes, 0);
    expect(info.offset).toBe(next + skippedBefore);
    next = info.offset + chunk.length;
  }
}

describe('following one log', () => {
  it('delivers only what is written after it starts, byte for byte, with offsets from 0', async () => {
    await writeFile(log, 'old boot text\n');
    const r = await follow();
    await appendFile(log, 'line 1\n');
    await appendFile(log, Buffer.from([0, 0xff, 0x1b, 0x5b, 0x0d, 0x0a]));
    await r.reached(13);
    expect(r.bytes).toEqual(Buffer.concat([Buffer.from('line 1\n'), Buffer.from([0, 0xff, 0x1b, 0x5b, 0x0d, 0x0a])]));
    expect(r.chunks[0]!.info).toMatchObject({ offset: 0, file: log, position: 14 });
    expectContiguous(r);
    expect(r.follower.mode).toBe('watch');
  });

  it("from: 'start' delivers the live file's existing bytes first", async () => {
    await writeFile(log, 'already there\n');
    const r = await follow({ from: 'start' });
    await appendFile(log, 'then more\n');
    await r.reached(24);
    expect(r.bytes.toString()).toBe('already there\nthen more\n');
  });

  it('a log that does not exist yet is followed from its first byte once it appears', async () => {
    const r = await follow();
    await writeFile(log, 'first boot line\n');
    await r.reached(16);
    expect(r.bytes.toString()).toBe('first boot line\n');
    expect(r.of('reset')).toEqual([]);
  });

  it('a directory that does not exist yet is polled for, then watched once it is there', async () => {
    await rm(dir, { recursive: true });
    const r = await follow({ pollMs: 100 });
    expect(r.follower.mode).toBe('poll');
    await mkdir(dir);
    await writeFile(log, 'hello\n');
    await r.reached(6);
    expect(r.bytes.toString()).toBe('hello\n');
    // Watching comes back at the next poll after the directory appeared.
    await waitUntil(() => r.follower.mode === 'watch');
    await appendFile(log, 'watched\n');
    await r.reached(14);
    expect(r.bytes.toString()).toBe('hello\nwatched\n');
  });
});

describe('rotation', () => {
  for (const watch of [true, false]) {
    it(`virtlogd: everything written across many rotations arrives exactly once, in order (${watch ? 'inotify' : 'forced polling'})`, async () => {
      const random = seeded(watch ? 11 : 12);
      const rotation = virtlogdRotation(log);
      const r = await follow({ log: rotation, watch, pollMs: 50, bytesPerSecond: Infinity });
      const written: Buffer[] = [];
      let total = 0;
      let rotations = 0;
      // Fewer rotations than the 32 backup names, so nothing falls off the set however slow the follower is.
      while (rotations < 25) {
        const chunk = randomBytes(1 + random(6000));
        await appendFile(log, chunk);
        written.push(chunk);
        total += chunk.length;
        if (random(4) === 0) {
          await rotation.rotate();
          rotations++;
        }
        if (random(3) === 0) await sleep(random(30));
      }
      await r.reached(total);
      expect(r.bytes.equals(Buffer.concat(written))).toBe(true);
      expect(r.skipped).toBe(0);
      expectContiguous(r);
      expect(r.of('reset')).toEqual([]);
      expect(r.follower.mode).toBe(watch ? 'watch' : 'poll');
      expect(r.of('mode').at(-1)?.mode).toBe(watch ? 'watch' : 'poll');
      // Each file the follower held until it rotated is reported complete under its backup name.
      expect(r.of('rotated').length).toBeGreaterThan(0);
      expect(r.of('rotated').every((e) => e.file === undefined || e.file.startsWith(`${log}.`))).toBe(true);
    });
  }

  it('virtlogd: the tail written just before a rotation is read from the renamed file, not lost', async () => {
    const rotation = virtlogdRotation(log, 3);
    const r = await follow({ log: rotation });
    await appendFile(log, 'a'.repeat(100));
    await r.reached(100);
    // Written, rotated and followed by a new live file before the follower looks again.
    await appendFile(log, 'TAIL');
    await rotation.rotate();
    await writeFile(log, 'NEW');
    await r.reached(107);
    expect(r.bytes.subarray(100).toString()).toBe('TAILNEW');
    expect(r.of('rotated')).toContainEqual({ event: 'rotated', file: `${log}.0`, endOffset: 104 });
  });

  it('Hyper-V: the real CappedLogWriter rotating console.log to console.log.1 loses and repeats nothing', async () => {
    const random = seeded(7);
    const writer = new CappedLogWriter(log, { capBytes: 4096 });
    // No gap between passes: the test waits for the follower after every write.
    const r = await follow({ log: hypervRotation(log), bytesPerSecond: Infinity, minPassGapMs: 0 });
    const written: Buffer[] = [];
    let total = 0;
    try {
      // One backup only: a second rotation before the follower looks would delete the first
      // backup, as os-win does. Each write is smaller than the cap (at most one rotation), and
      // the follower catches up before the next one.
      for (let i = 0; i < 60; i++) {
        const chunk = randomBytes(1 + random(4000));
        writer.write(chunk);
        await writer.flush();
        written.push(chunk);
        total += chunk.length;
        await r.reached(total);
      }
    } finally {
      await writer.close();
    }
    expect(r.bytes.equals(Buffer.concat(written))).toBe(true);
    expectContiguous(r);
    expect(r.of('rotated').length).toBeGreaterThan(10);
    expect(r.of('rotated').every((e) => e.file === `${log}.1`)).toBe(true);
  });

  it('Hyper-V: two rotations between two looks: the backup the follower never held is read whole', async () => {
    const rotation = hypervRotation(log);
    const r = await follow({ log: rotation, watch: false, pollMs: 60_000 });
    await appendFile(log, 'A');
    r.follower.poke();
    await r.reached(1);
    // With polling once a minute the follower looks only when poked: both rotations happen
    // unseen, and the second deletes the file it holds open (read to its end through it).
    await rotation.rotate();
    await writeFile(log, 'BB');
    await rotation.rotate();
    await writeFile(log, 'CCC');
    r.follower.poke();
    await r.reached(6);
    expect(r.bytes.toString()).toBe('ABBCCC');
  });
});

describe('start over', () => {
  it('truncation in place: reported as a reset, following goes on from 0', async () => {
    const r = await follow({ pollMs: 50 });
    await appendFile(log, 'first boot\n');
    await r.reached(11);
    await truncate(log, 0);
    // A truncation is only visible while the file is shorter than what was read (as for tail -F).
    await waitUntil(() => r.of('reset').length > 0);
    await appendFile(log, 'second\n');
    await r.reached(18);
    expect(r.bytes.toString()).toBe('first boot\nsecond\n');
    expect(r.of('reset')).toEqual([{ event: 'reset', offset: 11, reason: 'truncated' }]);
  });

  it("append='off': the log and its backups deleted and a new log started: the old tail first, then a reset, then the new boot", async () => {
    const rotation = virtlogdRotation(log, 3);
    const r = await follow({ log: rotation });
    await appendFile(log, 'boot 1, rotated\n');
    await rotation.rotate();
    await appendFile(log, 'boot 1 ');
    await r.reached(23);
    // The last words of boot 1, then virtlogd at QEMU start: delete everything, create anew.
    await appendFile(log, 'end\n');
    for (const name of readdirSync(dir)) await rm(join(dir, name));
    await writeFile(log, 'boot 2\n');
    await r.reached(34);
    expect(r.bytes.toString()).toBe('boot 1, rotated\nboot 1 end\nboot 2\n');
    expect(r.of('reset')).toEqual([{ event: 'reset', offset: 27, reason: 'recreated' }]);
  });

  it('a deleted directory: what was written before is read, then the recreated log from 0, reported as a reset', async () => {
    const r = await follow({ pollMs: 50 });
    await appendFile(log, 'before\n');
    await r.reached(7);
    await rm(dir, { recursive: true });
    await waitUntil(() => r.follower.mode === 'poll');
    await mkdir(dir);
    await writeFile(log, 'after\n');
    await r.reached(13);
    expect(r.bytes.toString()).toBe('before\nafter\n');
    expect(r.of('reset')).toEqual([{ event: 'reset', offset: 7, reason: 'recreated' }]);
    await waitUntil(() => r.follower.mode === 'watch');
  });
});

describe('bounded', () => {
  it('a flood above the cap: the oldest bytes are skipped and counted, what arrives is the stream at its offsets', async () => {
    const rotation = virtlogdRotation(log);
    const r = await follow({ log: rotation, bytesPerSecond: 64 * 1024 });
    const stream: Buffer[] = [];
    let total = 0;
    // 1 MiB in one write, then more across a rotation: far over 64 KiB/s whatever the machine's speed.
    for (const size of [1024 * 1024, 300_000]) {
      const chunk = randomBytes(size);
      await appendFile(log, chunk);
      stream.push(chunk);
      total += size;
      if (stream.length === 1) await rotation.rotate();
    }
    await r.reached(total);
    const all = Buffer.concat(stream);
    expect(r.delivered + r.skipped).toBe(total);
    expect(r.skipped).toBeGreaterThan(0);
    for (const { chunk, info } of r.chunks) expect(chunk.equals(all.subarray(info.offset, info.offset + chunk.length))).toBe(true);
    expectContiguous(r);
    // The newest bytes are never the ones skipped: the stream's end arrived.
    const last = r.chunks.at(-1)!;
    expect(last.info.offset + last.chunk.length).toBe(total);
  });

  it('stop releases the watcher, timers and every descriptor; nothing arrives after it', async () => {
    // libuv opens one inotify descriptor per process at the first watch and keeps it: open it first.
    const warm = await follow();
    await warm.follower.stop();
    const rotation = virtlogdRotation(log, 3);
    await writeFile(log, 'x');
    const before = openFds();
    const r = await follow({ log: rotation, pollMs: 50 });
    await appendFile(log, 'held open\n');
    await r.reached(10);
    expect(openFds()).toBeGreaterThan(before);
    await r.follower.stop();
    expect(openFds()).toBe(before);
    await appendFile(log, 'after stop\n');
    await rotation.rotate();
    await writeFile(log, 'more');
    await sleep(300);
    expect(r.bytes.toString()).toBe('held open\n');
  });

  it('a consumer that throws is reported and following goes on', async () => {
    let calls = 0;
    const seen: string[] = [];
    const failures: unknown[] = [];
    const follower = new LogFollower({
      log: virtlogdRotation(log),
      roots: [root],
      onChunk: (chunk) => {
        calls++;
        if (calls === 1) throw new Error('consumer bug');
        seen.push(chunk.toString());
      },
      observer: { consumer_failed: ({ error }) => failures.push(error) },
    });
    await follower.start();
    try {
      await appendFile(log, 'one\n');
      await waitUntil(() => calls === 1);
      await appendFile(log, 'two\n');
      await waitUntil(() => seen.length === 1);
      expect(seen).toEqual(['two\n']);
      expect(failures).toHaveLength(1);
    } finally {
      await follower.stop();
    }
  });
});

describe('confinement', () => {
  it('a symlink planted as console.log pointing outside the roots is refused, once, and nothing is read', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'vmconsole-outside-'));
    try {
      await writeFile(join(outside, 'secret'), 'host secret\n');
      const r = await follow({ roots: [dir], pollMs: 50 });
      await symlink(join(outside, 'secret'), log);
      await waitUntil(() => r.of('refused').length > 0);
      await appendFile(join(outside, 'secret'), 'more secret\n');
      await sleep(200);
      expect(r.chunks).toEqual([]);
      expect(r.of('refused')).toHaveLength(1);
      expect(r.of('refused')[0]!.detail).toMatch(/outside the log roots/);
      // Replaced by a real log, the console is followed again.
      await rm(log);
      await writeFile(log, 'real\n');
      await r.reached(5);
      expect(r.bytes.toString()).toBe('real\n');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('a log set outside the roots is refused', async () => {
    await writeFile(log, 'x');
    const r = await follow({ roots: [join(root, 'elsewhere')] });
    await appendFile(log, 'y');
    await r.follower.stop();
    expect(r.of('refused').length).toBe(1);
    expect(r.chunks).toEqual([]);
  });
});

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Waits for a state the follower reports (not a timing assertion: it fails only if never reached). */
async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not reached in ${timeoutMs} ms: ${check.toString()}`);
    await sleep(10);
  }
}
