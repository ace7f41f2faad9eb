/**
 * The log follower on a real libvirt guest: virtlogd writes the boot log of a Nova-style guest
 * (pty + `<log append='off'>`) and rotates it every 8 KiB, the libvirt driver names the log set
 * from the domain XML, and the follower hands over every byte virtlogd wrote, in order, up to the
 * kernel panic: byte for byte what the rotated files on disk hold. A hard reboot then wipes the set
 * (append='off'): reported as a reset, and boot 2 follows.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LibvirtDriver } from '../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { requireLibvirtOrSkip, startLibvirt } from '../harness/libvirt.ts';
import { FollowRecorder } from '../helpers/follow-recorder.ts';
import { waitFor } from '../helpers/wait.ts';

const PANIC = /Kernel panic - not syncing/;
/** QEMU emulates without KVM here: a boot on a loaded machine can take minutes. */
const BOOT_MS = 240_000;
const WAIT_FOR_MACHINE_MS = 10 * 60_000;
const MAX_SIZE = 8192;
const MAX_BACKUPS = 16;
const runnable = requireLibvirtOrSkip();

/** The set on disk, oldest byte first: every backup that exists, then the live file. */
async function onDisk(files: readonly string[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const file of files) {
    const content = await readFile(file).catch(() => undefined);
    if (content) parts.unshift(content);
  }
  return Buffer.concat(parts);
}

describe.runIf(runnable)('log follower on a real libvirt guest (virtlogd rotating its log)', () => {
  it('sees the guest\'s boot text as virtlogd writes it, across rotations, up to the panic, byte for byte', async () => {
    const lv = await startLibvirt({ maxSize: MAX_SIZE, maxBackups: MAX_BACKUPS, lockTimeoutMs: WAIT_FOR_MACHINE_MS });
    let recorder: FollowRecorder | undefined;
    try {
      const uuid = crypto.randomUUID();
      const log = join(lv.logDir, uuid, 'console.log');
      await mkdir(join(lv.logDir, uuid));
      await lv.define(lv.domainXml({ name: 'instance-0000000f', uuid, console: { type: 'pty', log, append: false } }));

      // Where the log is comes from the driver, as in the agent: the domain XML's <log file=...>.
      const driver = new LibvirtDriver({ uri: lv.uri, roots: [lv.logDir], instancesDir: join(lv.logDir, 'instances') });
      const set = await driver.consoleLogSet({ id: uuid, instanceName: 'instance-0000000f' });
      expect(set?.files[0]).toBe(log);
      recorder = new FollowRecorder({ log: set!, roots: [lv.logDir], bytesPerSecond: Infinity });
      await recorder.follower.start();

      await lv.virsh('start', uuid);
      await waitFor(() => PANIC.test(recorder!.bytes.toString('latin1')), BOOT_MS, 'the panic line through the follower');
      // The panicked guest prints no more: once the follower has everything on disk, both agree.
      const expected = await onDisk(set!.files);
      await recorder.reached(expected.length, 30_000);
      const text = recorder.bytes.toString('latin1');
      expect(text.indexOf('Linux version')).toBeGreaterThanOrEqual(0);
      expect(text.indexOf('Linux version')).toBeLessThan(text.search(PANIC));
      expect(recorder.bytes.equals(expected)).toBe(true);
      // virtlogd rotated while the guest booted, and nothing fell off its backups, so all of it is here.
      expect(recorder.of('rotated').length).toBeGreaterThan(0);
      expect(await readFile(`${log}.${MAX_BACKUPS - 1}`).catch(() => undefined)).toBeUndefined();
      expect(recorder.skipped).toBe(0);
      expect(recorder.chunks[0]!.info.offset).toBe(0);

      // A hard reboot as Nova does it: QEMU starts again and virtlogd (append='off') deletes the
      // log and its backups. The follower says the log started over, where boot 1 ended, and
      // follows boot 2 from its first byte.
      await lv.virsh('destroy', uuid);
      await lv.virsh('start', uuid);
      const boot2 = () => recorder!.bytes.subarray(expected.length).toString('latin1');
      await waitFor(() => PANIC.test(boot2()), BOOT_MS, 'boot 2\'s panic line through the follower');
      expect(recorder.of('reset')).toEqual([{ event: 'reset', offset: expected.length, reason: 'recreated' }]);
      expect(boot2().indexOf('Linux version')).toBeGreaterThanOrEqual(0);
      expect(boot2().indexOf('Linux version')).toBeLessThan(boot2().search(PANIC));
    } finally {
      await recorder?.follower.stop();
      await lv.stop();
    }
  }, WAIT_FOR_MACHINE_MS + BOOT_MS + 60_000);
});
