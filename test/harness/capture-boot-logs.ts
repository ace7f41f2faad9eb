/**
 * Regenerates fixtures/boot-logs/ from real guests (see fixtures/boot-logs/README.md).
 * Run as root after scripts/install-libvirt.sh:  node test/harness/capture-boot-logs.ts
 */
import { chmod, copyFile, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLibvirt, type LibvirtHarness } from './libvirt.ts';

const OUT = fileURLToPath(new URL('../../fixtures/boot-logs/', import.meta.url));
// The last line a panicking kernel prints; after it the guest is silent (panic=0).
const PANIC_END = /---\[ end Kernel panic - not syncing[^\n]*\]---\r?\n?$/;

/** The live log's identity and its last bytes, joined to the newest backup's in case it just rotated. */
async function liveLog(dir: string): Promise<{ id: string; tail: string }> {
  const live = await readFile(join(dir, 'console.log')).catch(() => Buffer.alloc(0));
  const backup = await readFile(join(dir, 'console.log.0')).catch(() => Buffer.alloc(0));
  const info = await stat(join(dir, 'console.log')).catch(() => undefined);
  return {
    id: info ? `${info.ino}:${info.size}` : '',
    tail: Buffer.concat([backup, live]).subarray(-400).toString('latin1'),
  };
}

/** Starts a guest and returns once its own panic is in the log (not a previous boot's). */
async function bootToPanic(lv: LibvirtHarness, dir: string, xml: string): Promise<string> {
  const before = (await liveLog(dir)).id;
  const uuid = await lv.create(xml);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const now = await liveLog(dir);
    if (now.id !== before && PANIC_END.test(now.tail)) return uuid;
    if (Date.now() > deadline) throw new Error(`no kernel panic in ${dir} within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function withLibvirt(options: Parameters<typeof startLibvirt>[0], body: (lv: LibvirtHarness) => Promise<void>) {
  const lv = await startLibvirt(options);
  try {
    await body(lv);
  } finally {
    await lv.stop();
  }
}

await mkdir(OUT, { recursive: true });

// One clean boot to panic, the way Nova configures it: pty console, virtlogd log, append off,
// virtlogd's default 2 MiB max_size so the boot stays in one file.
await withLibvirt({}, async (lv) => {
  const dir = join(lv.logDir, 'clean');
  await mkdir(dir);
  const uuid = await bootToPanic(lv, dir, lv.domainXml({ name: 'capture-clean', console: { type: 'pty', log: join(dir, 'console.log'), append: false } }));
  // Destroying the domain makes virtlogd flush and close the file before it is copied.
  await lv.virsh('destroy', uuid);
  await copyFile(join(dir, 'console.log'), join(OUT, 'clean-boot-panic.log'));
});

// Four boots appended to one log so that virtlogd rotates it (16 KiB max_size, 3 backups).
await withLibvirt({ maxSize: 16384, maxBackups: 3 }, async (lv) => {
  const dir = join(lv.logDir, 'rotated');
  await mkdir(dir);
  for (let boot = 1; boot <= 4; boot++) {
    const xml = lv.domainXml({ name: `capture-rotated-${boot}`, console: { type: 'pty', log: join(dir, 'console.log'), append: true } });
    await lv.virsh('destroy', await bootToPanic(lv, dir, xml));
  }
  await rm(join(OUT, 'rotated'), { recursive: true, force: true });
  await mkdir(join(OUT, 'rotated'));
  for (const file of await readdir(dir)) await copyFile(join(dir, file), join(OUT, 'rotated', file));
});

for (const file of ['clean-boot-panic.log', ...(await readdir(join(OUT, 'rotated'))).map((f) => join('rotated', f))]) {
  await chmod(join(OUT, file), 0o644);
}
console.log(`captured: clean-boot-panic.log, rotated/{${(await readdir(join(OUT, 'rotated'))).sort().join(',')}}`);
