import { closeSync, constants, openSync, readSync } from 'node:fs';
import { appendFile, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
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
  if (!PTY_PATH.test(ptyPath)) throw new VmconsoleError('Forbidden', `console pty ${ptyPath} is not a pseudo-terminal`);
  let fd: number;
  try {
    fd = openSync(ptyPath, OPEN_FLAGS);
  } catch (err) {
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return 0;
    throw err;
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
        throw err;
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  if (total > 0) {
    await mkdir(dirname(logFile), { recursive: true });
    const size = await stat(logFile).then((st) => st.size, () => 0);
    if (size > 0 && size + total > maxLogBytes) await virtlogdRotation(logFile, 1).rotate();
    await appendFile(logFile, Buffer.concat(chunks, total));
  }
  return total;
}
