import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';
import { consoleFixture } from './fixture.ts';

const text = (name: string) => consoleFixture(name).toString('utf8');
const cleanBootPanic = readFileSync(new URL('../../fixtures/boot-logs/clean-boot-panic.log', import.meta.url), 'utf8');
/** The end of a real CentOS 7 console reaching its login prompt (healthy-cloud-init-centos7.log, lines 9-12). */
const loginPrompt = text('healthy-cloud-init-centos7.log').split('\n').slice(8, 12).join('\n') + '\n';

describe('the failure that ended the boot wins', () => {
  it('a panic after an oops is a kernel panic, with the oops kept in the findings', () => {
    const d = diagnoseConsole(text('oops-then-panic-powerpc-5.18.log'));
    expect(d.category).toBe('kernel-panic');
    expect(d.findings.map((f) => f.category)).toEqual(['oops', 'kernel-panic']);
  });

  it('a soft lockup that panicked is a kernel panic whose reason says so', () => {
    expect(diagnoseConsole(text('softlockup-then-panic-arch-6.5.log'))).toMatchObject({ category: 'kernel-panic', reason: 'softlockup: hung tasks' });
  });

  it('an initramfs that gave up wins over the emergency prompt it then shows', () => {
    // systemd in the initrd prints both dracut's "Entering emergency mode" and "Press Enter for maintenance".
    expect(diagnoseConsole(text('initramfs-systemd-initrd-timeout-mkosi.log')).category).toBe('initramfs-timeout');
  });

  it('the emergency shell wins over the fsck failure that led to it', () => {
    expect(diagnoseConsole(text('emergency-sulogin-sysvinit.log'))).toMatchObject({ category: 'emergency-mode', severity: 'high' });
  });

  it('a GRUB error ends at the rescue prompt it leads to', () => {
    const d = diagnoseConsole(text('grub-rescue-chromebook.log'));
    expect(d).toMatchObject({ category: 'grub-error', severity: 'critical' });
    // "entering rescue mode..." and the "grub rescue>" prompt: the first and the last line of the finding.
    expect(d.evidence.lines.map((l) => l.line)).toEqual([3, 4]);
  });
});

describe('the boot continuing afterwards lowers the severity', () => {
  it('an OOM kill followed by a login prompt is low, not medium', () => {
    const d = diagnoseConsole(text('oom-killed-ubuntu-syslog.log') + loginPrompt);
    expect(d).toMatchObject({ category: 'oom', severity: 'low', reason: 'python3' });
    expect(d.findings[0]).toMatchObject({ continued: true, count: 3 });
  });

  it('an OOM kill with nothing after it stays medium', () => {
    expect(diagnoseConsole(text('oom-killed-ubuntu-syslog.log'))).toMatchObject({ category: 'oom', severity: 'medium', findings: [{ continued: false }] });
  });

  it('a login prompt before the problem does not count', () => {
    // The Debian 3.16 hard lockup was printed after "nas3 login:" on the same console.
    expect(diagnoseConsole(text('hard-lockup-warning-debian-3.16.log'))).toMatchObject({ severity: 'high', findings: [{ continued: false }, { continued: false }] });
  });

  it('cloud-init failing stays a failure when the login prompt comes', () => {
    expect(diagnoseConsole(text('cloud-init-scripts-user-failed.log') + loginPrompt)).toMatchObject({ category: 'cloud-init-failure', severity: 'medium', findings: [{ continued: true }] });
  });

  it('a terminal signature followed by a login prompt no longer ends the boot', () => {
    const d = diagnoseConsole(text('emergency-mode-ubuntu-core.log') + loginPrompt);
    expect(d).toMatchObject({ category: 'emergency-mode', severity: 'medium', findings: [{ continued: true }] });
  });
});

describe('noise stays healthy or low', () => {
  it('a kernel WARNING with its call trace is healthy, low, and listed', () => {
    // The Debian 3.16 WARNING and its trace without the hard-lockup line that followed it.
    const lines = text('hard-lockup-warning-debian-3.16.log').split('\n');
    const d = diagnoseConsole([...lines.slice(0, 2), ...lines.slice(3)].join('\n'));
    expect(d).toMatchObject({ category: 'healthy', severity: 'low', findings: [{ rule: 'kernel-warning', category: 'healthy', line: 2 }] });
    expect(d.summary).toMatch(/^No crash signature in boot 1 of 1; the kernel printed a warning \(\/build\/linux-xkTWug\/.*\) and carried on\.$/);
    expect(d.evidence.context.kind).toBe('call-trace');
  });

  it('a floppy drive probe and a missing serial console are not failures', () => {
    const floppy = '[    3.124542] blk_update_request: I/O error, dev fd0, sector 0\n[    3.125125] Buffer I/O error on dev fd0, logical block 0, async page read\n';
    expect(diagnoseConsole(floppy + text('healthy-qemu-noise-timed-out-ttyS0.log'))).toMatchObject({ category: 'healthy', severity: 'info', findings: [] });
  });

  it('the clean boot before its panic is healthy: nothing in 250 lines of a real boot looks like a problem', () => {
    const beforePanic = cleanBootPanic.split('\n').slice(0, 250).join('\n');
    expect(diagnoseConsole(beforePanic)).toMatchObject({ category: 'healthy', severity: 'info', findings: [] });
  });

  it('a non-critical unit failing to start is not a problem by itself', () => {
    // The first line of emergency-mode-fsck-riscv.log, without the emergency mode that followed it there.
    const failed = text('emergency-mode-fsck-riscv.log').split('\n').slice(0, 2).join('\n');
    expect(diagnoseConsole(failed)).toMatchObject({ category: 'healthy', severity: 'info', findings: [] });
  });

  it('words that contain a keyword are not matches', () => {
    const noise = [
      'Setting up libkernel-panic-error-perl (1.0-1) ...',
      'Unpacking oom-error-handler (2.3) ...',
      '[  OK  ] Started Disk Manager (not a STOP: code).',
      'error: file descriptor limit reached',
      '[   12.1] EXT4-fs (vda1): mounted filesystem with ordered data mode. Opts: errors=remount-ro',
      'Oops, could not find the configuration file',
    ].join('\n');
    expect(diagnoseConsole(noise)).toMatchObject({ category: 'healthy', findings: [] });
  });
});

describe('a boot loader or firmware complaint followed by a kernel did not stop the boot', () => {
  it('GRUB failing to load one file, then the kernel starting, is low', () => {
    // fedup's "error: file '/upgrade/vmlinuz' not found" as if the default entry then booted (the real VFS-panic boot).
    const grub = text('grub-file-not-found-fedup.log').split('\n').slice(0, 2).join('\n') + '\n';
    const d = diagnoseConsole(grub + cleanBootPanic.split('\n').slice(0, 250).join('\n'));
    expect(d).toMatchObject({ category: 'grub-error', severity: 'low', findings: [{ rule: 'grub-file-not-found', severity: 'low', continued: true }] });
  });

  it('the same GRUB error with nothing after it stops the boot', () => {
    expect(diagnoseConsole(text('grub-file-not-found-fedup.log'))).toMatchObject({ category: 'grub-error', severity: 'high', findings: [{ continued: false }] });
  });
});

describe('boots in one window', () => {
  it('diagnoses the newest of two boots and says which', () => {
    const d = diagnoseConsole(cleanBootPanic + cleanBootPanic);
    expect(d).toMatchObject({ category: 'kernel-panic', boot: { index: 2, count: 2, firstLine: 270, lastLine: 538, latest: true, startedBy: { line: 270 } } });
    expect(d.evidence.lines[0]!.line).toBe(269 + 254);
  });

  it('a boot that reached its login prompt after a crashed one is healthy', () => {
    const linuxVersion = cleanBootPanic.split('\n')[0]! + '\n';
    const d = diagnoseConsole(cleanBootPanic + linuxVersion + text('healthy-cloud-init-centos7.log'));
    expect(d).toMatchObject({ category: 'healthy', boot: { index: 2, count: 2, latest: true } });
  });

  it('firmware, boot loader and kernel banners of one boot are one boot; the next firmware banner starts another', () => {
    // grub-rescue-chromebook.log starts with SeaBIOS's "Booting from Hard Disk...".
    const firmware = text('grub-rescue-chromebook.log').split('\n')[0]! + '\n';
    const d = diagnoseConsole(firmware + cleanBootPanic + firmware + text('grub-rescue-chromebook.log'));
    expect(d).toMatchObject({ category: 'grub-error', boot: { index: 2, count: 2, firstLine: 271, startedBy: { line: 271 } } });
    expect(diagnoseConsole(firmware + cleanBootPanic).boot).toMatchObject({ index: 1, count: 1, startedBy: { line: 1 } });
  });
});
