import { appendFile, mkdir } from 'node:fs/promises';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { VmconsoleError } from '../../errors.ts';

const MAX_DRAIN_BYTES = 1024 * 1024;

/**
 * Nova's pty path without virtlogd: read what the pty holds right now, without blocking, and
 * append it to the instance's console.log, which is then read like any log. Only /dev/pts/N:
 * domain XML must not turn the agent into a reader of arbitrary devices.
 */
export async function drainPty(ptyPath: string, logFile: string): Promise<void> {
  if (!/^\/dev\/pts\/\d+$/.test(ptyPath)) throw new VmconsoleError('Forbidden', `console pty ${ptyPath} is not a pseudo-terminal`);
  const chunks: Buffer[] = [];
  let total = 0;
  let fd: number;
  try {
    fd = openSync(ptyPath, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    // The domain stopped (pty gone) or QEMU holds it exclusively: what is on disk is the answer.
    if (['ENOENT', 'EIO', 'EBUSY', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
    throw err;
  }
  try {
    const buffer = Buffer.alloc(64 * 1024);
    while (total < MAX_DRAIN_BYTES) {
      let n: number;
      try {
        n = readSync(fd, buffer, 0, buffer.length, null);
      } catch (err) {
        if (['EAGAIN', 'EWOULDBLOCK', 'EIO'].includes((err as NodeJS.ErrnoException).code ?? '')) break;
        throw err;
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  if (total === 0) return;
  await mkdir(dirname(logFile), { recursive: true });
  await appendFile(logFile, Buffer.concat(chunks));
}
