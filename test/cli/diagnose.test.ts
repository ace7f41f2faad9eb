import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';
import { CLI_LAUNCHERS, runCli, type CliLauncher } from '../helpers/cli-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLEAN_BOOT_PANIC = join(ROOT, 'fixtures/boot-logs/clean-boot-panic.log');
const fixture = (name: string) => join(ROOT, 'test/fixtures/diagnostics', name);

const LAUNCHERS = CLI_LAUNCHERS;

function vmconsole(launcher: CliLauncher, args: string[], stdin?: Buffer | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(args, { launcher, ...(stdin !== undefined && { stdin }) }).then(({ code, stdout, stderr }) => ({ code, stdout, stderr }));
}

const scratch = mkdtempSync(join(tmpdir(), 'vmconsole-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

for (const [name, launcher] of Object.entries(LAUNCHERS)) {
  describe(`vmconsole diagnose (${name})`, () => {
    it('prints a short report of the real VFS panic and exits 1', async () => {
      const run = await vmconsole(launcher, ['diagnose', CLEAN_BOOT_PANIC]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe('');
      const lines = run.stdout.split('\n');
      expect(lines[0]).toBe('kernel-panic (critical) in boot 1 of 1, lines 1-269');
      expect(lines[1]).toBe('The kernel panicked: VFS: Unable to mount root fs on unknown-block(0,0).');
      expect(run.stdout).toContain('  254 | [    1.404035] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n');
      expect(run.stdout).toContain('call trace:\n  255 | [    1.404035] CPU: 0 PID: 1 Comm: swapper/0');
    });

    it('--json prints exactly the diagnosis the analyser returns', async () => {
      const run = await vmconsole(launcher, ['diagnose', CLEAN_BOOT_PANIC, '--json']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toEqual(diagnoseConsole(readFileSync(CLEAN_BOOT_PANIC)));
    });

    it('- reads standard input; healthy exits 0', async () => {
      const run = await vmconsole(launcher, ['diagnose', '-'], readFileSync(fixture('healthy-acpi-noise-6.x.log')));
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toBe('healthy (info) in boot 1 of 1, lines 1-7\nNo crash signature in boot 1 of 1.\n');
    });

    it('an empty log (a console that printed nothing yet) is said to be empty, healthy, exit 0', async () => {
      const run = await vmconsole(launcher, ['diagnose', '-'], '');
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout.split('\n')[0]).toBe('healthy (info): the console log is empty');
    });

    it('exits 0 for low severity (a WARNING the kernel lived through) and 1 for medium (an OOM kill)', async () => {
      const warning = readFileSync(fixture('hard-lockup-warning-debian-3.16.log'), 'utf8').split('\n');
      const low = await vmconsole(launcher, ['diagnose', '-', '--json'], [...warning.slice(0, 2), ...warning.slice(3)].join('\n'));
      expect(low.code).toBe(0);
      expect(JSON.parse(low.stdout)).toMatchObject({ category: 'healthy', severity: 'low' });
      const medium = await vmconsole(launcher, ['diagnose', fixture('oom-killed-ubuntu-syslog.log')]);
      expect(medium.code).toBe(1);
      expect(medium.stdout.split('\n')[0]).toBe('oom (medium) in boot 1 of 1, lines 1-5');
    });

    it('--boot picks a boot; the report says when a newer boot has only started', async () => {
      const rotated = join(ROOT, 'fixtures/boot-logs/rotated/console.log.1');
      const newest = await vmconsole(launcher, ['diagnose', rotated]);
      expect(newest.stdout.split('\n')[0]).toBe('kernel-panic (critical) in boot 1 of 2, lines 1-34; a newer boot has only started');
      const second = await vmconsole(launcher, ['diagnose', rotated, '--boot', '2']);
      expect(second.code).toBe(0);
      expect(second.stdout.split('\n')[0]).toMatch(/^healthy \(info\) in boot 2 of 2, lines 35-\d+$/);
    });

    it('a missing file is a clear message and exit code 2, without a stack', async () => {
      const missing = join(scratch, 'no-such.log');
      const run = await vmconsole(launcher, ['diagnose', missing]);
      expect(run).toEqual({ code: 2, stdout: '', stderr: `vmconsole: cannot read ${missing}: no such file\n` });
    });

    it('a directory is refused with exit code 2', async () => {
      const run = await vmconsole(launcher, ['diagnose', scratch]);
      expect(run).toEqual({ code: 2, stdout: '', stderr: `vmconsole: ${scratch}: not a regular file\n` });
    });

    it('usage errors exit 2: no file, an unknown option, a bad boot number, no command', async () => {
      for (const args of [['diagnose'], ['diagnose', CLEAN_BOOT_PANIC, '--bogus'], ['diagnose', CLEAN_BOOT_PANIC, '--boot', 'zero'], [], ['no-such-command']]) {
        const run = await vmconsole(launcher, args);
        expect(run.code, args.join(' ')).toBe(2);
        expect(run.stderr + run.stdout).toMatch(/error|Usage/);
        expect(run.stderr).not.toMatch(/\n\s+at /);
      }
    });

    it('--help documents the exit codes and exits 0', async () => {
      const run = await vmconsole(launcher, ['diagnose', '--help']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Exit codes:\n  0  healthy, or only low severity');
    });
  });
}

describe('vmconsole diagnose on binary input', () => {
  it('diagnoses raw bytes with NULs and invalid UTF-8 without failing', async () => {
    const file = join(scratch, 'garbage.log');
    writeFileSync(file, Buffer.concat([Buffer.from([0, 0, 0xff, 0xfe, 0x0a, 0xc3]), readFileSync(fixture('windows-stop-7b-nt.log')), Buffer.alloc(1000, 0)]));
    const run = await vmconsole(LAUNCHERS.installed, ['diagnose', file, '--json']);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ category: 'windows-bugcheck', code: '0x0000007B', codeName: 'INACCESSIBLE_BOOT_DEVICE' });
  });
});
