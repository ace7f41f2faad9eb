import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { sep } from 'node:path';
import { VmconsoleError } from '../errors.ts';

// O_NONBLOCK so a FIFO planted as a log never blocks the agent; O_NOFOLLOW so a symlink swapped in
// as the last component after realpath is refused rather than followed.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

export interface ConfinedFile {
  handle: FileHandle;
  /** fstat at open time: the size to read, the inode to recognise the file by. */
  stats: Stats;
}

/** Roots as canonical paths; roots that do not exist confine to nothing. */
export async function resolveRoots(roots: readonly string[]): Promise<string[]> {
  const resolved = await Promise.all(roots.map((root) => realpath(root).catch(() => undefined)));
  return resolved.filter((root): root is string => root !== undefined);
}

/** Component-wise: `/var/log2/x` is not inside `/var/log`. */
export function insideRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

/**
 * Opens a regular file that resolves inside `roots` (canonical, from resolveRoots); undefined when
 * it does not exist. Anything else is a Forbidden VmconsoleError. The caller closes the handle.
 */
export async function openConfined(file: string, roots: readonly string[]): Promise<ConfinedFile | undefined> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  if (!insideRoots(real, roots)) throw outsideRoots(file);

  let handle: FileHandle;
  try {
    handle = await open(real, OPEN_FLAGS);
  } catch (err) {
    if (isMissing(err)) return undefined;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw outsideRoots(file);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new VmconsoleError('Forbidden', `console log ${file} is not readable by the agent`, { cause: err });
    }
    throw err;
  }
  try {
    if (!insideRoots(await openedPath(handle, real), roots)) throw outsideRoots(file);
    const stats = await handle.stat();
    if (!stats.isFile()) throw new VmconsoleError('Forbidden', `console log ${file} is not a regular file`);
    return { handle, stats };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Where the open descriptor really leads. A directory above the file can be swapped for a symlink
 * between realpath and open (instance directories are writable by the hypervisor's user), and
 * O_NOFOLLOW only guards the last component; the kernel's own record of the opened path closes
 * that race. Linux only: elsewhere the realpath check is all there is.
 */
async function openedPath(handle: FileHandle, real: string): Promise<string> {
  if (process.platform !== 'linux') return real;
  return readlink(`/proc/self/fd/${handle.fd}`);
}

function outsideRoots(file: string): VmconsoleError {
  return new VmconsoleError('Forbidden', `console log ${file} is outside the agent log roots`);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
