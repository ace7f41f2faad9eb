import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTSIDE_WHAT_MAY_BE_READ } from '../../lib/console/open-confined.ts';
import { readLogWindow } from '../../lib/console/read-log-window.ts';
import { hypervRotation, virtlogdRotation } from '../../lib/console/rotated-log.ts';
import { VmconsoleError } from '../../lib/errors.ts';

let root: string;
let log: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vmconsole-window-'));
  log = join(root, 'console.log');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const read = async (window: number, files = virtlogdRotation(log).files, roots = [root]) =>
  (await readLogWindow(files, window, roots)).toString('latin1');

/** Every refusal is Forbidden with the one tenant-safe message; the path and the reason are operator detail. */
async function expectForbidden(promise: Promise<unknown>, detail?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmconsoleError);
  expect((err as VmconsoleError).code).toBe('Forbidden');
  expect((err as VmconsoleError).message).toBe(OUTSIDE_WHAT_MAY_BE_READ);
  if (detail) expect((err as VmconsoleError).detail).toMatch(detail);
}

describe('readLogWindow across rotated files', () => {
  beforeEach(() => {
    writeFileSync(log, 'uvwxyz');
    writeFileSync(`${log}.0`, 'klmnopqrst');
    writeFileSync(`${log}.1`, 'abcdefghij');
  });

  it.each([
    [4, 'wxyz'],
    [6, 'uvwxyz'],
    [7, 'tuvwxyz'],
    [12, 'opqrstuvwxyz'],
    [16, 'klmnopqrstuvwxyz'],
    [26, 'abcdefghijklmnopqrstuvwxyz'],
    [30, 'abcdefghijklmnopqrstuvwxyz'],
    [0, ''],
  ])('spec vector: window %i', async (window, expected) => {
    expect(await read(window)).toBe(expected);
  });

  it('stops at the first missing file', async () => {
    rmSync(`${log}.0`);
    expect(await read(30)).toBe('uvwxyz');
  });

  it('reads the Hyper-V pair oldest first', async () => {
    expect(await read(30, hypervRotation(log).files)).toBe('abcdefghijuvwxyz');
  });

  it('gives an empty buffer when the live file does not exist', async () => {
    rmSync(log);
    rmSync(`${log}.0`);
    expect(await read(30)).toBe('');
    expect(await read(30, [join(root, 'never', 'console.log')])).toBe('');
  });

  it('reads the backups when the live file is gone but the newest backup is there', async () => {
    // What a reader sees between virtlogd's rename and re-create, if virtlogd stalls there.
    rmSync(log);
    expect(await read(10)).toBe('klmnopqrst');
    expect(await read(12)).toBe('ijklmnopqrst');
    expect(await read(30)).toBe('abcdefghijklmnopqrst');
  });

  it('rejects a negative or fractional window with a typed error', async () => {
    await expect(readLogWindow([log], -1, [root])).rejects.toBeInstanceOf(VmconsoleError);
    await expect(readLogWindow([log], 1.5, [root])).rejects.toBeInstanceOf(VmconsoleError);
  });
});

describe('readLogWindow content', () => {
  it('keeps a partial first line, binary bytes, NULs and invalid UTF-8 untouched', async () => {
    const bytes = Buffer.from([0x6c, 0x69, 0x6e, 0x65, 0x0a, 0x00, 0xff, 0xc3, 0x28, 0x0d, 0x0a, 0x1b, 0x00]);
    writeFileSync(log, bytes);
    expect(await readLogWindow([log], 9, [root])).toEqual(bytes.subarray(4));
    expect(await readLogWindow([log], 100, [root])).toEqual(bytes);
  });

  it('cuts an enormous single line to the window', async () => {
    const line = Buffer.alloc(300_000, 'x');
    line[line.length - 1] = 0x21;
    writeFileSync(log, line);
    const out = await readLogWindow(virtlogdRotation(log).files, 102_400, [root]);
    expect(out).toHaveLength(102_400);
    expect(out.subarray(-1).toString()).toBe('!');
    expect(out.indexOf(0x0a)).toBe(-1);
  });

  it('reads only the tail of a 4 GiB sparse file', async () => {
    const tail = Buffer.from('\n[ 4294.967296] end of a very long log\n');
    const fh = await open(log, 'w');
    try {
      await fh.truncate(4 * 2 ** 30);
      await fh.write(tail, 0, tail.length, 4 * 2 ** 30);
    } finally {
      await fh.close();
    }
    expect(await readLogWindow(virtlogdRotation(log).files, tail.length, [root])).toEqual(tail);
    const window = await readLogWindow(virtlogdRotation(log).files, 102_400, [root]);
    expect(window).toHaveLength(102_400);
    expect(window.subarray(-tail.length)).toEqual(tail);
    expect(window.subarray(0, -tail.length).every((byte) => byte === 0)).toBe(true);
  });
});

describe('readLogWindow confinement to the log roots', () => {
  let outside: string;
  beforeEach(() => {
    outside = mkdtempSync(join(tmpdir(), 'vmconsole-outside-'));
    writeFileSync(join(outside, 'secret'), 'root:x:0:0');
  });
  afterEach(() => rmSync(outside, { recursive: true, force: true }));

  it('refuses a file outside every root', async () => {
    await expectForbidden(readLogWindow([join(outside, 'secret')], 100, [root]));
  });

  it('refuses everything when no roots are configured', async () => {
    writeFileSync(log, 'hello');
    await expectForbidden(readLogWindow([log], 100, []));
  });

  it('ignores roots that do not exist', async () => {
    writeFileSync(log, 'hello');
    await expectForbidden(readLogWindow([log], 100, [join(root, 'missing')]));
  });

  it('refuses a symlink inside a root that points outside', async () => {
    symlinkSync(join(outside, 'secret'), log);
    await expectForbidden(read(100));
  });

  it('refuses a rotated backup that points outside', async () => {
    writeFileSync(log, 'live');
    symlinkSync(join(outside, 'secret'), `${log}.0`);
    await expectForbidden(read(100));
  });

  it('follows a symlink that stays inside the roots', async () => {
    mkdirSync(join(root, 'real'));
    writeFileSync(join(root, 'real', 'log'), 'inside');
    symlinkSync(join(root, 'real', 'log'), log);
    expect(await read(100)).toBe('inside');
  });

  it('accepts a root given through a symlink', async () => {
    writeFileSync(log, 'via link');
    const link = join(outside, 'root-link');
    symlinkSync(root, link);
    expect(await readLogWindow([join(link, 'console.log')], 100, [link])).toEqual(Buffer.from('via link'));
  });

  it('does not take /var/log2 for a directory inside /var/log', async () => {
    mkdirSync(join(root, 'log'));
    mkdirSync(join(root, 'log2'));
    writeFileSync(join(root, 'log2', 'console.log'), 'not yours');
    await expectForbidden(readLogWindow([join(root, 'log2', 'console.log')], 100, [join(root, 'log')]));
    await expectForbidden(readLogWindow([join(root, 'log2', 'console.log')], 100, [`${join(root, 'log')}/`]));
    expect(await readLogWindow([join(root, 'log2', 'console.log')], 100, [join(root, 'log'), join(root, 'log2')])).toEqual(
      Buffer.from('not yours'),
    );
  });

  it('refuses a FIFO named console.log without blocking', async () => {
    execFileSync('mkfifo', [log]);
    await expectForbidden(read(100), /console\.log is a FIFO/);
  });

  it('refuses a directory named console.log', async () => {
    mkdirSync(log);
    await expectForbidden(read(100), /console\.log is a directory/);
  });

  it('never reads outside the roots while a directory above the log is swapped for a symlink', async () => {
    // realpath sees the real directory, then open may walk the symlink: O_NOFOLLOW only guards the
    // last component, so only the check on the opened descriptor keeps the secret in.
    writeFileSync(join(outside, 'console.log'), 'SECRET');
    const dir = join(root, 'instance');
    mkdirSync(dir);
    writeFileSync(join(dir, 'console.log'), 'inside');
    const script = `
      const fs = require('node:fs');
      const dir = ${JSON.stringify(dir)};
      for (let k = 0; k < 20000; k++) {
        fs.renameSync(dir, dir + '-real');
        fs.symlinkSync(${JSON.stringify(outside)}, dir);
        fs.unlinkSync(dir);
        fs.renameSync(dir + '-real', dir);
      }`;
    const swapper = spawn(process.execPath, ['-e', script], { stdio: 'inherit' });
    const done = new Promise<number | null>((resolve) => swapper.on('exit', resolve));
    let finished = false;
    void done.then(() => (finished = true));

    const outcomes = new Map<string, number>();
    while (!finished) {
      const batch = await Promise.all(
        Array.from({ length: 8 }, () =>
          readLogWindow([join(dir, 'console.log')], 100, [root]).then(
            (out) => out.toString(),
            (err: unknown) => (err instanceof VmconsoleError ? err.code : String(err)),
          ),
        ),
      );
      for (const outcome of batch) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(await done).toBe(0);
    // Mid-swap the log is missing ('') or leads outside (Forbidden); it is never read from there.
    expect([...outcomes.keys()].filter((k) => !['inside', '', 'Forbidden'].includes(k))).toEqual([]);
    expect(outcomes.get('inside')).toBeGreaterThan(0);
  });

  it('refuses a device reached through a symlink even under a root of /', async () => {
    symlinkSync('/dev/zero', log);
    await expectForbidden(readLogWindow([log], 100, ['/']), /is a character device/);
  });
});

describe('readLogWindow refuses what is not a plain log, without opening it', () => {
  let outside: string;
  beforeEach(() => {
    outside = mkdtempSync(join(tmpdir(), 'vmconsole-outside-'));
  });
  afterEach(() => rmSync(outside, { recursive: true, force: true }));

  it('a unix socket', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(log, resolve));
    try {
      await expectForbidden(read(100), new RegExp(`${log} is a unix socket`));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a symlink loop', async () => {
    symlinkSync(join(root, 'b'), log);
    symlinkSync(log, join(root, 'b'));
    await expectForbidden(read(100), /symbolic link loop/);
  });

  it('a terminal device that answers ENXIO when opened, and the null device', async () => {
    // /dev/tty with no controlling terminal fails its open; a reader that opened it answered 500.
    symlinkSync('/dev/tty', log);
    await expectForbidden(readLogWindow([log], 100, ['/']), /is a character device/);
    rmSync(log);
    symlinkSync('/dev/null', log);
    await expectForbidden(readLogWindow([log], 100, ['/']), /is a character device/);
  });

  it('never opens a FIFO: a writer waiting for a reader keeps waiting', async () => {
    execFileSync('mkfifo', [log]);
    // Opening a FIFO for writing blocks until someone opens it for reading.
    const writer = spawn('sh', ['-c', `echo leaked > '${log}'`], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => writer.on('exit', () => resolve()));
    try {
      await expectForbidden(read(100), /is a FIFO/);
      const outcome = await Promise.race([exited.then(() => 'opened'), sleep(300).then(() => 'still waiting')]);
      expect(outcome).toBe('still waiting');
    } finally {
      writer.kill();
      await exited;
    }
  });

  it('a hard link to a file outside the roots', async () => {
    writeFileSync(join(outside, 'secret'), 'root:x:0:0');
    linkSync(join(outside, 'secret'), log);
    await expectForbidden(read(100), /has 2 hard links/);
  });

  it('a hard-linked backup, even when the live file is fine', async () => {
    writeFileSync(log, 'live');
    writeFileSync(join(outside, 'secret'), 'root:x:0:0');
    linkSync(join(outside, 'secret'), `${log}.0`);
    await expectForbidden(read(100), /console\.log\.0 has 2 hard links/);
  });
});

describe('readLogWindow while virtlogd rotates', () => {
  const rotate = async (next: string) => {
    await rename(`${log}.0`, `${log}.1`).catch(() => undefined);
    await rename(log, `${log}.0`);
    await writeFile(log, next);
  };

  it('sees the new set after a rotation between two reads', async () => {
    writeFileSync(log, 'abcdef');
    expect(await read(4)).toBe('cdef');
    await rotate('ghij');
    expect(await read(4)).toBe('ghij');
    expect(await read(6)).toBe('efghij');
    expect(await read(100)).toBe('abcdefghij');
  });

  it('gives a consistent window while another process rotates every millisecond', async () => {
    // Chunks are distinct, so each consistent window is a suffix of chunk(0)..chunk(k) for some k.
    const chunk = (k: number) => `<${String(k).padStart(6, '0')}>\n`;
    const rotations = 400;
    writeFileSync(log, chunk(0));
    const script = `
      const fs = require('node:fs');
      const log = ${JSON.stringify(log)};
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let k = 1; k <= ${rotations}; k++) {
        try { fs.renameSync(log + '.1', log + '.2'); } catch {}
        try { fs.renameSync(log + '.0', log + '.1'); } catch {}
        fs.renameSync(log, log + '.0');
        const fd = fs.openSync(log, 'w');
        fs.writeSync(fd, ${JSON.stringify(chunk(0))}.replace('000000', String(k).padStart(6, '0')));
        fs.closeSync(fd);
        Atomics.wait(pause, 0, 0, 1);
      }`;
    const rotator = spawn(process.execPath, ['-e', script], { stdio: 'inherit' });
    const done = new Promise<number | null>((resolve) => rotator.on('exit', resolve));
    let finished = false;
    void done.then(() => (finished = true));

    const stream = Array.from({ length: rotations + 1 }, (_, k) => chunk(k));
    const window = 2 * chunk(0).length + 3;
    const results: string[] = [];
    while (!finished) {
      const batch = await Promise.all(Array.from({ length: 8 }, () => read(window, virtlogdRotation(log, 3).files)));
      results.push(...batch);
    }
    expect(await done).toBe(0);

    // Mid-rotation a backup name can be briefly missing (virtlogd renames one file at a time), so
    // a window may be shorter than asked, but never stitched from files of different moments.
    const arrangements = stream.map((_, k) => stream.slice(Math.max(0, k - 3), k + 1).join(''));
    const invalid = results.filter((out) => out === '' || !arrangements.some((a) => a.endsWith(out)));
    expect(results.length).toBeGreaterThan(50);
    expect(invalid).toEqual([]);
    expect(results.filter((out) => out.length === window).length).toBeGreaterThan(0);
  });
});
