import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path, { type PlatformPath } from 'node:path';
import { TENANT_TEXT, VmconsoleError } from '../errors.ts';

// O_NONBLOCK so nothing that slipped past the type check (a FIFO swapped in after lstat) can block
// the agent; O_NOFOLLOW so a symlink swapped in as the last component after realpath is refused
// rather than followed; O_NOCTTY so a terminal swapped in never becomes the agent's controlling tty.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW | constants.O_NOCTTY;

/** What a tenant reads for every refusal: which rule refused the file, and where it is, is operator detail. */
export const OUTSIDE_WHAT_MAY_BE_READ = TENANT_TEXT.Forbidden;

export interface ConfinedFile {
  handle: FileHandle;
  /** fstat at open time: the size to read, the inode to recognise the file by. */
  stats: Stats;
}

/**
 * Roots change only when an operator moves a directory, yet every read asks for them: resolving
 * them on each read cost a thread-pool round trip per root on the agent's hot path (npm run bench).
 * A few seconds of reuse keeps a moved or newly created root from going unnoticed for long.
 */
const ROOTS_REUSE_MS = 5_000;
const resolvedRoots = new Map<string, { roots: string[]; until: number }>();

/** Roots as canonical paths; roots that do not exist confine to nothing. */
export async function resolveRoots(roots: readonly string[]): Promise<string[]> {
  const key = roots.join('\0');
  const known = resolvedRoots.get(key);
  if (known && known.until > Date.now()) return known.roots;
  const resolved = (await Promise.all(roots.map((root) => realpath(root).catch(() => undefined))))
    .filter((root): root is string => root !== undefined);
  // Only a complete answer is reused: a root that does not exist yet is looked for again next time.
  if (resolved.length === roots.length) resolvedRoots.set(key, { roots: resolved, until: Date.now() + ROOTS_REUSE_MS });
  return resolved;
}

/**
 * Component-wise: `/var/log2/x` is not inside `/var/log`. On Windows (`p` is path.win32 there, and
 * in the tests that check its rules on Linux) paths are compared as its file systems name them:
 * `\\?\C:\x` is `C:\x`, `\\?\UNC\server\share` is `\\server\share`, and case is ignored for ASCII
 * letters only (`c:\openstack\instances\x` is inside `C:\OpenStack\Instances`). NTFS folds other
 * letters through its own upcase table, which JavaScript's toLowerCase does not match (it makes
 * the Kelvin sign a `k`): a name that differs there is outside, never wrongly inside. A root's
 * trailing separator changes nothing.
 */
export function insideRoots(file: string, roots: readonly string[], p: PlatformPath = path): boolean {
  const target = comparable(file, p);
  return roots.some((r) => {
    const root = comparable(r, p);
    return target === root || target + p.sep === root || target.startsWith(root.endsWith(p.sep) ? root : root + p.sep);
  });
}

function comparable(file: string, p: PlatformPath): string {
  if (p.sep !== '\\') return file;
  return file
    .replace(/^\\\\\?\\UNC\\/i, '\\\\')
    .replace(/^\\\\\?\\/, '')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Opens a regular file that resolves inside `roots` (canonical, from resolveRoots); undefined when
 * it does not exist. Anything else is a Forbidden VmconsoleError with a tenant-safe message and the
 * path and reason in `detail`. The caller closes the handle.
 *
 * The type is checked before opening, so a device, socket or FIFO is never opened (opening a
 * device can have effects of its own); the open descriptor is checked again, since the name can
 * be swapped between the check and the open. A file with more than one link is refused: a hard
 * link made inside a root to a file outside it passes every path check.
 */
export async function openConfined(file: string, roots: readonly string[]): Promise<ConfinedFile | undefined> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw refusedOrFailed(file, err);
  }
  if (!insideRoots(real, roots)) throw refused(file, `resolves to ${real}, outside the log roots`);

  let before: Stats;
  try {
    before = await lstat(real);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw refusedOrFailed(file, err);
  }
  checkRegular(file, before);

  let handle: FileHandle;
  try {
    handle = await open(real, OPEN_FLAGS);
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw refusedOrFailed(file, err);
  }
  try {
    const [opened, stats] = await Promise.all([openedPath(handle, real), handle.stat()]);
    if (!insideRoots(opened, roots)) throw refused(file, `opened ${opened}, outside the log roots`);
    checkRegular(file, stats);
    return { handle, stats };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function checkRegular(file: string, stats: Stats): void {
  if (!stats.isFile()) throw refused(file, `is ${describeType(stats)}, not a regular file`);
  if (stats.nlink > 1) throw refused(file, `has ${stats.nlink} hard links; a hard-linked log may lead outside the roots`);
}

function describeType(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSocket()) return 'a unix socket';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
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

function refused(file: string, why: string, cause?: unknown): VmconsoleError {
  return new VmconsoleError('Forbidden', OUTSIDE_WHAT_MAY_BE_READ, { detail: `console log ${file} ${why}`, cause });
}

/** Errors the file system answers for things that are not the agent's to read; anything else is the host failing. */
const REFUSALS: Record<string, string> = {
  ELOOP: 'is a symbolic link loop, or a link swapped in after it was resolved',
  EACCES: 'is not readable by the agent',
  EPERM: 'is not readable by the agent',
  ENXIO: 'is a socket or a device without a reader',
  ENAMETOOLONG: 'resolves to a path longer than the system allows',
};

function refusedOrFailed(file: string, err: unknown): VmconsoleError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why = REFUSALS[code];
  if (why !== undefined) return refused(file, why, err);
  return new VmconsoleError('Internal', 'the console log could not be opened', {
    detail: `console log ${file}: ${(err as Error).message}`,
    cause: err,
  });
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
