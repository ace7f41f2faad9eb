/**
 * Regenerates fixtures/boot-logs/ from real guests (see fixtures/boot-logs/README.md).
 * Run as root after scripts/install-libvirt.sh:  node test/harness/capture-boot-logs.ts
 */
import { chmod, copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLibvirt } from './libvirt.ts';

const OUT = fileURLToPath(new URL('../../fixtures/boot-logs/', import.meta.url));
const PANIC = /Kernel panic - not syncing/;

await mkdir(OUT, { recursive: true });

// One clean boot to panic, the way Nova configures it: pty console, virtlogd log, append off,
// virtlogd's default 2 MiB max_size so the boot stays in one file.
const first = await startLibvirt();
try {
  const clean = join(first.logDir, 'clean.log');
  const uuid = await first.create(first.domainXml({ name: 'capture-clean', console: { type: 'pty', log: clean, append: false } }));
  await first.waitForFile(clean, PANIC, 120_000);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  await first.virsh('destroy', uuid);
  await copyFile(clean, join(OUT, 'clean-boot-panic.log'));
} finally {
  await first.stop();
}

const lv = await startLibvirt({ maxSize: 16384, maxBackups: 3 });
try {
  // Several boots appended to one log so virtlogd rotates it (16 KiB max_size, 3 backups).
  const rotatedDir = join(lv.logDir, 'rotated');
  await mkdir(rotatedDir);
  const rotated = join(rotatedDir, 'console.log');
  for (let boot = 1; boot <= 4; boot++) {
    const id = await lv.create(lv.domainXml({ name: `capture-rotated-${boot}`, console: { type: 'pty', log: rotated, append: true } }));
    // Each boot's panic line lands in the live file, which rotation may have just replaced.
    await lv.waitForFile(rotated, PANIC, 120_000).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    await lv.virsh('destroy', id);
  }

  // Copy after destroying the domains so virtlogd has flushed and closed the files.
  await rm(join(OUT, 'rotated'), { recursive: true, force: true });
  await mkdir(join(OUT, 'rotated'));
  for (const file of await readdir(rotatedDir)) await copyFile(join(rotatedDir, file), join(OUT, 'rotated', file));
  for (const file of ['clean-boot-panic.log', ...(await readdir(rotatedDir)).map((f) => join('rotated', f))]) await chmod(join(OUT, file), 0o644);
  console.log(`captured: clean-boot-panic.log, rotated/{${(await readdir(rotatedDir)).sort().join(',')}}`);
} finally {
  await lv.stop();
}
