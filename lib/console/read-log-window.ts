import { statSync } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmconsoleError } from '../errors.ts';
import { openConfined, resolveRoots } from './open-confined.ts';

/**
 * Rotation racing the open is rare (virtlogd rotates every 2 MiB) and the next attempt settles it;
 * the bound only matters under a preempted or pathological writer, or a set with a hole in it (a
 * file deleted by hand), and costs ~85 ms of waiting (twice that if the live file is gone too).
 */
const MAX_ATTEMPTS = 20;

interface OpenedLog {
  file: string;
  handle: FileHandle;
  size: number;
  ino: number;
  dev: number;
}

/**
 * The last `window` bytes of a rotated log set, oldest byte first. `files` are newest first
 * (live file, then backups: a RotatedLog's `files`, see rotated-log.ts); reading stops at the first missing file or when the window is full.
 * No live file gives an empty buffer, unless backups exist: then the live log counts as empty.
 * Cost is O(window): each file is opened, measured with fstat and read from its end by position.
 * Every file must resolve inside one of `roots`; non-regular files are refused.
 */
export async function readLogWindow(files: readonly string[], window: number, roots: readonly string[]): Promise<Buffer> {
  if (!Number.isSafeInteger(window) || window < 0) {
    throw new VmconsoleError('BadRequest', `console log window must be a non-negative integer, got ${window}`);
  }
  if (files.length === 0 || window === 0) return Buffer.alloc(0);
  const realRoots = await resolveRoots(roots);

  for (let attempt = 1; ; attempt++) {
    const opened: OpenedLog[] = [];
    try {
      const gap = await openNewestFirst(files, window, realRoots, opened);
      // A missing name short of a full window ends the set, unless a rename is under way: virtlogd
      // moves one file at a time, so the name comes back or an older name exists beyond the gap.
      // Both questions are asked at once: each is a thread-pool round trip on the hot path.
      const [rotating, consistent] = await Promise.all([
        gap !== undefined && files.slice(gap, gap + 2).some((file) => isThere(file) === true),
        unchanged(files, opened),
      ]);
      const last = attempt >= MAX_ATTEMPTS;
      if (!rotating || last) {
        const first = opened[0];
        // Still no live file but backups: stuck between virtlogd's rename and create (a preempted
        // writer), or removed by hand. Either way the live log is empty: the backups are the window.
        if (first === undefined) return rotating ? readLogWindow(files.slice(1), window, roots) : Buffer.alloc(0);
        const tail = consistent ? await readTail(opened, window) : undefined;
        if (tail !== undefined) return tail;
        // Still rotating: the live file alone is always a consistent (shorter) suffix.
        if (last) return (await readTail([first], window)) ?? Buffer.alloc(0);
      }
    } finally {
      // The bytes are already copied out: the caller need not wait for the descriptors to close.
      for (const log of opened) log.handle.close().catch(() => undefined);
    }
    await sleep(Math.min(attempt, 5));
  }
}

/**
 * Whether a name is there (following links, as an open would), or undefined when the file system
 * will not say. A missing backup is the common case (most logs never rotated), and the promise API
 * can only report it by throwing: building those errors, stack traces included, cost more of the
 * agent's CPU than the read itself (CPU profile under npm run bench). A synchronous stat of a name
 * that is not there answers from the dentry cache in microseconds, without an exception.
 */
function isThere(file: string): boolean | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTDIR' ? false : undefined;
  }
}

/** Opens files newest first until the window is covered; the index of a missing file that stopped it short. */
async function openNewestFirst(
  files: readonly string[],
  window: number,
  roots: readonly string[],
  opened: OpenedLog[],
): Promise<number | undefined> {
  let total = 0;
  for (const [index, file] of files.entries()) {
    if (total >= window) return undefined;
    if (isThere(file) === false) return index;
    const log = await openConfined(file, roots);
    if (log === undefined) return index;
    const { handle, stats } = log;
    opened.push({ file, handle, size: stats.size, ino: stats.ino, dev: stats.dev });
    total += stats.size;
  }
  return undefined;
}

/**
 * A rotation is several renames (`.1->.2`, `.0->.1`, live->`.0`) and a create, so files opened one
 * by one may come from different moments. Each rename moves a file to an older name for good, so
 * if every name still names the file opened under it, no rename touched any of them since it was
 * opened: the set is one snapshot. Sizes were taken at open time, so later appends do not matter.
 */
async function unchanged(files: readonly string[], opened: readonly OpenedLog[]): Promise<boolean> {
  // One file is one moment by itself: its size was taken at open, whatever was renamed since.
  if (opened.length <= 1) return true;
  const now = await Promise.all(opened.map((_, i) => stat(files[i]!).catch(() => undefined)));
  return now.every((st, i) => st !== undefined && st.ino === opened[i]!.ino && st.dev === opened[i]!.dev);
}

/** Fills the window from the newest file backwards; undefined when a file shrank under us. */
async function readTail(opened: readonly OpenedLog[], window: number): Promise<Buffer | undefined> {
  const slices: { log: OpenedLog; position: number; length: number; offset: number }[] = [];
  let remaining = window;
  for (const log of opened) {
    if (remaining === 0) break;
    const length = Math.min(log.size, remaining);
    remaining -= length;
    slices.push({ log, position: log.size - length, length, offset: remaining });
  }
  const filled = window - remaining;
  const out = Buffer.allocUnsafe(filled);
  const complete = await Promise.all(
    slices.map(({ log, position, length, offset }) => readFully(log, out, offset - remaining, length, position)),
  );
  return complete.every(Boolean) ? out : undefined;
}

async function readFully(log: OpenedLog, buffer: Buffer, offset: number, length: number, position: number): Promise<boolean> {
  let done = 0;
  while (done < length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await log.handle.read(buffer, offset + done, length - done, position + done));
    } catch (err) {
      throw new VmconsoleError('Internal', 'the console log could not be read', {
        detail: `console log ${log.file}: ${(err as Error).message}`,
        cause: err,
      });
    }
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}
