/**
 * An initramfs whose init is a busybox shell on the serial console: a guest that answers typed
 * commands on ttyS0 (remote serial consoles need a real shell at the other end). Built from
 * Debian's busybox-static (/bin/busybox, installed by scripts/install-libvirt.sh) and packed with
 * busybox's own cpio and gzip (Debian's cpio is not installed). With the guest kernel (.vmconsole/guest/vmlinuz) and
 * console=ttyS0 the guest prints SHELL_READY and its prompt ~8 s after start under TCG.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const BUSYBOX = '/bin/busybox';
/** The line init prints just before starting the shell. */
export const SHELL_READY = 'vmconsole-guest-shell-ready';

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo ${SHELL_READY}
exec setsid cttyhack sh
`;

/** Builds `<dir>/shell-initramfs.gz` (once per dir) and returns its path. */
export async function buildBusyboxInitramfs(dir: string): Promise<string> {
  const out = join(dir, 'shell-initramfs.gz');
  if (await stat(out).then((s) => s.size > 0, () => false)) return out;
  const root = await mkdtemp(join(dir, 'initramfs-root-'));
  try {
    for (const sub of ['bin', 'proc', 'sys', 'dev']) await mkdir(join(root, sub));
    await copyFile(BUSYBOX, join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    await writeFile(join(root, 'init'), INIT, { mode: 0o755 });
    // `find . | cpio -o -H newc | gzip`, with busybox's applets, from inside the root.
    await run('/bin/sh', ['-c', `cd "$1" && ${BUSYBOX} find . | ${BUSYBOX} cpio -o -H newc 2>/dev/null | ${BUSYBOX} gzip -c > "$2"`, 'sh', root, out]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return out;
}
