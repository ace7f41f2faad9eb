import { describe, expect, it } from 'vitest';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';
import type { Category, Severity } from '../../lib/diagnostics/diagnosis.ts';
import { consoleFixture, consoleFixtureNames } from './fixture.ts';

interface Expected {
  category: Category;
  severity: Severity;
  /** The first proving line (1-based) in the fixture. */
  line: number;
  reason?: string;
  code?: string;
  codeName?: string;
  /** Every finding as rule@line, in line order. */
  findings: string[];
}

/** One row per real fixture (sources in test/fixtures/diagnostics/README.md). */
const CASES: Record<string, Expected> = {
  'oops-null-deref-zfs-5.17.log': { category: 'oops', severity: 'high', line: 1, reason: 'kernel NULL pointer dereference', findings: ['oops@1'] },
  'oops-paging-request-syzkaller-4.8.log': { category: 'oops', severity: 'high', line: 1, reason: 'unable to handle kernel paging request', findings: ['oops@1'] },
  'oops-then-panic-powerpc-5.18.log': { category: 'kernel-panic', severity: 'critical', line: 16, reason: 'Fatal exception', findings: ['oops@2', 'kernel-panic@16'] },
  'panic-kill-init-arm-3.18.log': { category: 'kernel-panic', severity: 'critical', line: 1, reason: 'Attempted to kill init! exitcode=0x00000000', findings: ['kernel-panic@1'] },
  'panic-kill-init-android-4.14.log': { category: 'kernel-panic', severity: 'critical', line: 3, reason: 'Attempted to kill init! exitcode=0x00000100', findings: ['kernel-panic@3'] },
  'panic-oops-fatal-interrupt-arm64-6.x.log': { category: 'kernel-panic', severity: 'critical', line: 12, reason: 'Oops: Fatal exception in interrupt', findings: ['kernel-panic@12'] },
  'softlockup-then-panic-arch-6.5.log': { category: 'kernel-panic', severity: 'critical', line: 3, reason: 'softlockup: hung tasks', findings: ['soft-lockup@1', 'kernel-panic@3'] },
  'softlockup-openrisc-5.5.log': { category: 'soft-lockup', severity: 'high', line: 1, reason: 'ksoftirqd/0:7', findings: ['soft-lockup@1'] },
  'softlockup-3.x-lockdep.log': { category: 'soft-lockup', severity: 'high', line: 1, reason: 'migration/10:346', findings: ['soft-lockup@1'] },
  'softlockup-workqueue-qemu-4.18.log': { category: 'soft-lockup', severity: 'high', line: 1, findings: ['workqueue-lockup@1'] },
  'rcu-stall-tetragon-5.x.log': { category: 'rcu-stall', severity: 'high', line: 1, findings: ['rcu-stall@1'] },
  'rcu-self-detected-raspberrypi-4.x.log': { category: 'rcu-stall', severity: 'high', line: 1, findings: ['rcu-stall@1'] },
  'rcu-stall-2.6-syslog.log': { category: 'rcu-stall', severity: 'high', line: 1, findings: ['rcu-stall@1'] },
  'hard-lockup-warning-debian-3.16.log': { category: 'rcu-stall', severity: 'high', line: 3, findings: ['kernel-warning@2', 'hard-lockup@3'] },
  'hung-task-logrotate-4.16.log': { category: 'hung-task', severity: 'medium', line: 1, reason: 'logrotate', findings: ['hung-task@1'] },
  'hung-task-mips-3.0.log': { category: 'hung-task', severity: 'medium', line: 1, reason: 'kinteractiveup', findings: ['hung-task@1'] },
  'oom-killed-ubuntu-syslog.log': { category: 'oom', severity: 'medium', line: 1, reason: 'python3', findings: ['oom-kill@1'] },
  'oom-kill-process-3.x.log': { category: 'oom', severity: 'medium', line: 1, reason: 'R', findings: ['oom-kill@1'] },
  'oom-cgroup-kubernetes-5.4.log': { category: 'oom', severity: 'low', line: 1, reason: 'uwsgi', findings: ['oom-cgroup@1'] },
  'oom-systemd-oomd-ubuntu-22.04.log': { category: 'oom', severity: 'low', line: 1, reason: '/user.slice/user-1001.slice/user@1001.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-dbb4a75e-031f-480d-924b-5de5af7579d2.scope', findings: ['oomd-kill@1'] },
  'fs-ext4-error-raspibolt.log': { category: 'fs-error', severity: 'medium', line: 1, reason: 'sda', findings: ['fs-error@1'] },
  'fs-ext4-io-error-kr260.log': { category: 'fs-error', severity: 'medium', line: 2, reason: 'sda2', findings: ['fs-error@2', 'block-io-error@3'] },
  'fs-ext4-aborted-journal-readonly.log': { category: 'fs-error', severity: 'high', line: 1, reason: 'dm-4-8', findings: ['fs-readonly@1', 'fs-error@2'] },
  'fs-xfs-shutdown.log': { category: 'fs-error', severity: 'high', line: 4, reason: 'dm-4', findings: ['fs-error@1', 'fs-readonly@4'] },
  'fs-xfs-metadata-corruption-fcos.log': { category: 'fs-error', severity: 'medium', line: 3, reason: 'vda4', findings: ['fs-error@3'] },
  'fs-blk-io-error-nvme-boot.log': { category: 'fs-error', severity: 'medium', line: 2, reason: 'nvme1n1', findings: ['block-io-error@2'] },
  'fs-blk-io-error-usb-3.x.log': { category: 'fs-error', severity: 'medium', line: 1, reason: 'sda', findings: ['block-io-error@1'] },
  'emergency-mode-ubuntu-core.log': { category: 'emergency-mode', severity: 'high', line: 1, reason: 'emergency', findings: ['emergency-mode@1'] },
  'emergency-mode-fsck-riscv.log': { category: 'emergency-mode', severity: 'high', line: 11, findings: ['emergency-mode@11'] },
  'emergency-sulogin-sysvinit.log': { category: 'emergency-mode', severity: 'high', line: 15, findings: ['fsck-failed@9', 'emergency-mode@15'] },
  'initramfs-alert-uuid-ubuntu.log': { category: 'initramfs-timeout', severity: 'high', line: 5, reason: 'UUID=68d82fa1-1bb5-435f-a5e3-862176586eec', findings: ['initramfs-gave-up@5'] },
  'initramfs-dracut-could-not-boot-centos7.log': { category: 'initramfs-timeout', severity: 'high', line: 3, reason: '/dev/centos/root', findings: ['initramfs-gave-up@3'] },
  'initramfs-dracut-timeout-5.x.log': { category: 'initramfs-timeout', severity: 'medium', line: 1, findings: ['initramfs-timeout@1'] },
  'initramfs-systemd-initrd-timeout-mkosi.log': { category: 'initramfs-timeout', severity: 'high', line: 14, findings: ['initramfs-timeout@1', 'initrd-root-missing@3', 'initramfs-gave-up@14', 'emergency-mode@23'] },
  'initramfs-mkinitcpio-arch.log': { category: 'initramfs-timeout', severity: 'high', line: 3, findings: ['initramfs-gave-up@3'] },
  'cloud-init-unit-failed-azure.log': { category: 'cloud-init-failure', severity: 'medium', line: 12, reason: 'Initial cloud-init job (metadata service crawler).', findings: ['cloud-init-unit-failed@12'] },
  'cloud-init-metadata-unreachable-centos7.log': { category: 'cloud-init-failure', severity: 'medium', line: 5, findings: ['cloud-init-no-datasource@5'] },
  'cloud-init-scripts-user-failed.log': { category: 'cloud-init-failure', severity: 'medium', line: 1, reason: 'scripts-user', findings: ['cloud-init-module-failed@1'] },
  'grub-rescue-unknown-filesystem.log': { category: 'grub-error', severity: 'critical', line: 4, findings: ['grub-no-device@1', 'grub-rescue@4'] },
  'grub-rescue-chromebook.log': { category: 'grub-error', severity: 'critical', line: 3, findings: ['grub-no-device@2', 'grub-rescue@3'] },
  'grub-file-not-found-fedup.log': { category: 'grub-error', severity: 'high', line: 2, reason: '/upgrade/vmlinuz', findings: ['grub-file-not-found@2'] },
  'grub-seabios-boot-failed-ipxe.log': { category: 'grub-error', severity: 'high', line: 9, reason: 'could not read the boot disk', findings: ['boot-device-failed@9'] },
  'windows-bootmgr-missing-seabios.log': { category: 'grub-error', severity: 'critical', line: 4, reason: 'BOOTMGR is missing', findings: ['mbr-boot-failure@4'] },
  'windows-stop-7b-nt.log': { category: 'windows-bugcheck', severity: 'critical', line: 1, code: '0x0000007B', codeName: 'INACCESSIBLE_BOOT_DEVICE', findings: ['windows-bugcheck-stop@1'] },
  'windows-stop-7b-kb.log': { category: 'windows-bugcheck', severity: 'critical', line: 1, code: '0x0000007B', codeName: 'INACCESSIBLE_BOOT_DEVICE', findings: ['windows-bugcheck-stop@1'] },
  'windows-rebooted-from-bugcheck-event.log': { category: 'windows-bugcheck', severity: 'medium', line: 1, code: '0x0000003B', codeName: 'SYSTEM_SERVICE_EXCEPTION', findings: ['windows-bugcheck-after-reboot@1'] },
  'healthy-cloud-init-centos7.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-acpi-noise-6.x.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-qemu-noise-timed-out-ttyS0.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-cloud-init-route-warning.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-firmware-bug-talos-6.18.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-grub-locale-missing.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-grub-not-regular-file.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
  'healthy-ext4-errors-remount-ro-option.log': { category: 'healthy', severity: 'info', line: 0, findings: [] },
};

describe('every category on real console text', () => {
  it('has a case for every fixture file', () => {
    expect(Object.keys(CASES).sort()).toEqual(consoleFixtureNames());
  });

  for (const [file, want] of Object.entries(CASES)) {
    it(`${file} -> ${want.category} (${want.severity})`, () => {
      const d = diagnoseConsole(consoleFixture(file));
      expect(d.category).toBe(want.category);
      expect(d.severity).toBe(want.severity);
      expect(d.findings.map((f) => `${f.rule}@${f.line}`)).toEqual(want.findings);
      expect(d.reason).toBe(want.reason);
      expect(d.code).toBe(want.code);
      expect(d.codeName).toBe(want.codeName);
      if (want.category === 'healthy') {
        expect(d.evidence.lines).toEqual([]);
        return;
      }
      // The evidence line is the fixture's own line with that number.
      const lines = consoleFixture(file).toString('utf8').split('\n');
      const first = d.evidence.lines[0]!;
      expect(first.line).toBe(want.line);
      expect(first.text).toBe(lines[want.line - 1]!.replace(/\r$/, '').replace(/\x1b\[[0-9;]*m/g, ''));
      expect(d.summary).toMatch(/[.)]$/);
    });
  }
});

describe('evidence around the proving line', () => {
  it('captures a panic call trace up to the end of the trace', () => {
    const d = diagnoseConsole(consoleFixture('panic-kill-init-android-4.14.log'));
    expect(d.evidence.context.kind).toBe('call-trace');
    expect(d.evidence.context.lines.map((l) => l.line)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(d.evidence.context.lines.at(-1)!.text).toContain('el0_svc_naked+0x34/0x38');
  });

  it('captures an oops register dump and trace, and the oops stays in the findings when a panic follows', () => {
    const d = diagnoseConsole(consoleFixture('oops-then-panic-powerpc-5.18.log'));
    const oops = d.findings.find((f) => f.category === 'oops')!;
    expect(oops).toMatchObject({ severity: 'high', reason: 'Kernel NULL pointer dereference', evidence: { context: { kind: 'call-trace' } } });
    expect(oops.evidence.context.lines.some((l) => l.text.includes('papr_scm_probe+0x2ac/0x6ec'))).toBe(true);
  });

  it('folds repeats into one finding with its first and last line', () => {
    const d = diagnoseConsole(consoleFixture('fs-ext4-io-error-kr260.log'));
    const ext4 = d.findings.find((f) => f.rule === 'fs-error')!;
    expect(ext4).toMatchObject({ line: 2, lastLine: 8, count: 5 });
    expect(ext4.evidence.lines.map((l) => l.line)).toEqual([2, 8]);
  });

  it('shows the lines around a message without a trace', () => {
    const d = diagnoseConsole(consoleFixture('initramfs-alert-uuid-ubuntu.log'));
    expect(d.evidence.context).toMatchObject({ kind: 'around' });
    expect(d.evidence.context.lines.map((l) => l.line)).toEqual([2, 3, 4, 6, 7, 8, 9, 10]);
  });
});

describe('task names as the kernel prints them', () => {
  // "INFO: task %s:%d blocked for more than %ld seconds." with comms that hold colons (workqueue workers).
  it.each([
    ['kworker/0:1', 45],
    ['kworker/u4:2', 123],
    ['jbd2/vda1-8', 245],
  ])('reads %s:%i as a hung task with its whole name', (task, pid) => {
    const d = diagnoseConsole(`[  242.1] INFO: task ${task}:${pid} blocked for more than 120 seconds.\n[  242.2]       Not tainted 5.15.0-91-generic #101-Ubuntu\n`);
    expect(d).toMatchObject({ category: 'hung-task', severity: 'medium', reason: task });
    expect(d.summary).toContain(task);
  });
});
