import { closeSync, constants, openSync, readSync } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OUTSIDE_WHAT_MAY_BE_READ } from '../../console/open-confined.ts';
import { virtlogdRotation } from '../../console/rotated-log.ts';
import { VmconsoleError } from '../../errors.ts';

/** Per call: a guest that printed more since the last read loses its oldest output, as in Nova. */
export const MAX_DRAIN_BYTES = 1024 * 1024;
/**
 * Nova lets the drained file grow without end. Past this size it is rotated with virtlogd's
 * naming and a single backup (`console.log` -> `console.log.0`), so the usual rotated-log reader
 * still finds the last window and the disk holds at most twice this.
 */
export const MAX_DRAINED_LOG_BYTES = 2 * 1024 * 1024;

// O_NONBLOCK: an empty pty answers EAGAIN instead of blocking the agent; O_NOCTTY: the agent must
// never acquire the guest's pty as its controlling terminal.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
// The drained file sits in a directory the hypervisor's user may write to: never follow a link
// planted there, never block on a FIFO, never write to a terminal.
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const PTY_PATH = /^\/dev\/pts\/\d+$/;
/** The pty is gone (domain stopped, master closed) or not ours to open: the drained file is all there is. */
const GONE = new Set(['ENOENT', 'ENXIO', 'EIO', 'EBUSY', 'EACCES', 'EPERM']);
const EMPTY = new Set(['EAGAIN', 'EWOULDBLOCK', 'EIO']);

/**
 * Nova's pty path without virtlogd: take what the pty holds right now, without blocking, and
 * append it to `logFile` (the instance's console.log), which is then read like any virtlogd log. Returns
 * the number of bytes drained. Only /dev/pts/N is opened: domain XML must not make the agent a
 * reader of arbitrary devices.
 */
export async function drainPty(ptyPath: string, logFile: string, maxLogBytes = MAX_DRAINED_LOG_BYTES): Promise<number> {
  if (!PTY_PATH.test(ptyPath)) {
    throw new VmconsoleError('Forbidden', OUTSIDE_WHAT_MAY_BE_READ, { detail: `console pty ${ptyPath} is not a pseudo-terminal (/dev/pts/N)` });
  }
  let fd: number;
  try {
    fd = openSync(ptyPath, OPEN_FLAGS);
  } catch (err) {
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return 0;
    throw drainFailed(`opening ${ptyPath}`, err);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    // Non-blocking reads return at once, so reading synchronously costs no more than a memcpy.
    const buffer = Buffer.allocUnsafe(64 * 1024);
    while (total < MAX_DRAIN_BYTES) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, Math.min(buffer.length, MAX_DRAIN_BYTES - total), null);
      } catch (err) {
        if (EMPTY.has((err as NodeJS.ErrnoException).code ?? '')) break;
        throw drainFailed(`reading ${ptyPath}`, err);
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  if (total > 0) await append(logFile, Buffer.concat(chunks, total), maxLogBytes);
  return total;
}

async function append(logFile: string, bytes: Buffer, maxLogBytes: number): Promise<void> {
  try {
    await mkdir(dirname(logFile), { recursive: true });
    const size = await stat(logFile).then((st) => st.size, () => 0);
    if (size > 0 && size + bytes.length > maxLogBytes) await virtlogdRotation(logFile, 1).rotate();
    const file = await open(logFile, APPEND_FLAGS, 0o640);
    try {
      if (!(await file.stat()).isFile()) throw new Error('not a regular file');
      await file.writeFile(bytes);
    } finally {
      await file.close();
    }
  } catch (err) {
    throw drainFailed(`appending to ${logFile}`, err);
  }
}

function drainFailed(doing: string, err: unknown): VmconsoleError {
  return new VmconsoleError('Internal', 'the console pty could not be drained', { detail: `${doing}: ${(err as Error).message}`, cause: err });
}
