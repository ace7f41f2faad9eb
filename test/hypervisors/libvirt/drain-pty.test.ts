/**
 * drainPty against a REAL pseudo-terminal (see fake-pty-guest.ts): what the guest prints is
 * readable on /dev/pts/N, the path domain XML names and the driver drains.
 */
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTSIDE_WHAT_MAY_BE_READ } from '../../../lib/console/open-confined.ts';
import { drainPty } from '../../../lib/hypervisors/libvirt/drain-pty.ts';
import { VmconsoleError } from '../../../lib/errors.ts';
import { startFakePtyGuest, type FakePtyGuest } from '../../helpers/fake-pty-guest.ts';
import { requireToolsOrSkip } from '../../helpers/require-tools.ts';

describe.runIf(requireToolsOrSkip(['python3']))('drainPty on a real pty', () => {
  let dir: string;
  let guest: FakePtyGuest;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmconsole-drain-'));
    guest = await startFakePtyGuest();
  });
  afterEach(async () => {
    await guest.exit();
    await rm(dir, { recursive: true, force: true });
  });

  it('appends what the pty holds to the log (creating its directory), byte for byte', async () => {
    expect(guest.ptyPath).toMatch(/^\/dev\/pts\/\d+$/);
    const log = join(dir, 'instances', 'uuid-1', 'console.log');
    const boot = Buffer.concat([Buffer.from('Linux version 6.1\r\n\x1b[0m'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
    await guest.print(boot);
    expect(await drainPty(guest.ptyPath, log)).toBe(boot.length);
    expect((await readFile(log)).equals(boot)).toBe(true);

    await guest.print('Kernel panic - not syncing\r\n');
    expect(await drainPty(guest.ptyPath, log)).toBe(28);
    expect((await readFile(log)).subarray(boot.length).toString()).toBe('Kernel panic - not syncing\r\n');
  });

  it('rotates the drained file like virtlogd once it would pass its size limit', async () => {
    const log = join(dir, 'console.log');
    await guest.print('0123456789');
    await drainPty(guest.ptyPath, log, 16);
    await guest.print('abcdefghij');
    await drainPty(guest.ptyPath, log, 16);
    expect(await readFile(`${log}.0`, 'utf8')).toBe('0123456789');
    expect(await readFile(log, 'utf8')).toBe('abcdefghij');
  });

  it('an empty pty returns at once (never blocks) and writes nothing', async () => {
    const log = join(dir, 'empty', 'console.log');
    const started = performance.now();
    expect(await drainPty(guest.ptyPath, log)).toBe(0);
    expect(performance.now() - started).toBeLessThan(200);
    await expect(stat(log)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('what was drained is gone from the pty: a second drain appends only new output', async () => {
    const log = join(dir, 'console.log');
    await guest.print('one\n');
    await drainPty(guest.ptyPath, log);
    expect(await drainPty(guest.ptyPath, log)).toBe(0);
    await guest.print('two\n');
    await drainPty(guest.ptyPath, log);
    expect(await readFile(log, 'utf8')).toBe('one\ntwo\n');
  });

  it('a pty that no longer exists (domain stopped) drains nothing and does not throw', async () => {
    const log = join(dir, 'console.log');
    expect(await drainPty('/dev/pts/999999', log)).toBe(0);
    await expect(stat(log)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses anything that is not /dev/pts/N: domain XML must not pick what the agent reads', async () => {
    for (const path of ['/etc/passwd', '/dev/tty', '/dev/pts/../../etc/shadow', '/dev/pts/ptmx', 'relative/1']) {
      const err = await drainPty(path, join(dir, 'console.log')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VmconsoleError);
      expect((err as VmconsoleError).code).toBe('Forbidden');
      expect((err as VmconsoleError).message).toBe(OUTSIDE_WHAT_MAY_BE_READ);
      expect((err as VmconsoleError).detail).toContain(path);
    }
  });

  it('never appends through a link planted as the drained file: Internal, the path for the operator only', async () => {
    const target = join(dir, 'elsewhere');
    await writeFile(target, 'untouched');
    const log = join(dir, 'console.log');
    await symlink(target, log);
    await guest.print('secret keystrokes\r\n');
    const err = await drainPty(guest.ptyPath, log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmconsoleError);
    expect((err as VmconsoleError).code).toBe('Internal');
    expect((err as VmconsoleError).message).toBe('the console pty could not be drained');
    expect((err as VmconsoleError).detail).toContain(log);
    expect(await readFile(target, 'utf8')).toBe('untouched');
  });
});
