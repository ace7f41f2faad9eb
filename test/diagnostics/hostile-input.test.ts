import { describe, expect, it } from 'vitest';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';
import { consoleFixture } from './fixture.ts';

/** Deterministic bytes (xorshift32), so a failure can be replayed. */
function garbage(bytes: number, seed = 0x2545f491): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const KIB_100 = 100 * 1024;
/**
 * These would hang on a regular expression that backtracks catastrophically; vitest's per-test
 * timeout is the guard (no timing assertion: the bench measures speed).
 */
const GUARD = { timeout: 10_000 };

describe('hostile input never throws and is bounded', () => {
  it('1 MiB of random bytes', GUARD, () => {
    const d = diagnoseConsole(garbage(1024 * 1024));
    expect(['healthy']).toContain(d.category);
    expect(d.lines).toBeGreaterThan(1000);
  });

  it('an empty window', () => {
    expect(diagnoseConsole('')).toMatchObject({ category: 'healthy', severity: 'info', lines: 0, findings: [], boot: { index: 1, count: 1 } });
    expect(diagnoseConsole(new Uint8Array(0)).category).toBe('healthy');
  });

  it('a 100 KiB single line', GUARD, () => {
    expect(diagnoseConsole('x'.repeat(KIB_100))).toMatchObject({ category: 'healthy', lines: 1 });
  });

  it('a panic at the end of a 100 KiB line of garbage without a newline is found, with its evidence cut to 512 characters', GUARD, () => {
    const line = garbage(KIB_100).toString('latin1').replace(/\n/g, ' ') + '[    1.404035] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)';
    const d = diagnoseConsole(line);
    expect(d).toMatchObject({ category: 'kernel-panic', reason: 'VFS: Unable to mount root fs on unknown-block(0,0)', evidence: { lines: [{ line: 1 }] } });
    expect(d.evidence.lines[0]!.text.length).toBe(512);
  });

  it('a keyword in garbage early on a long line does not hide the real message later on it', GUARD, () => {
    const line = 'STOP: zz '.repeat(500) + 'x'.repeat(5000) + '*** STOP: 0x0000007B (0xF78D2524,0xC0000034,0x00000000,0x00000000)';
    expect(diagnoseConsole(line)).toMatchObject({ category: 'windows-bugcheck', code: '0x0000007B' });
  });

  it('NUL bytes and ANSI escapes inside a signature do not hide it, and do not move line numbers', () => {
    const bytes = Buffer.concat([Buffer.from('\x00\x00[   36.537323] watchdog: BUG: soft \x00lockup - CPU#3 stuck for 27s! [swapper/3:0]\r\n'), Buffer.from('\x1b[0;1;31m[   36.560762] Kernel \x1b[1mpanic\x1b[0m - not syncing: softlockup: hung tasks\x1b[0m\r\n')]);
    const d = diagnoseConsole(bytes);
    expect(d).toMatchObject({ category: 'kernel-panic', reason: 'softlockup: hung tasks', evidence: { lines: [{ line: 2, text: '[   36.560762] Kernel panic - not syncing: softlockup: hung tasks' }] } });
    expect(d.findings.map((f) => [f.rule, f.line])).toEqual([['soft-lockup', 1], ['kernel-panic', 2]]);
  });

  it('invalid UTF-8 (Latin-1 bytes, truncated sequences) around a signature', () => {
    const bytes = Buffer.concat([Buffer.from([0xe9, 0xe8, 0xff, 0xc3, 0x0a]), consoleFixture('windows-stop-7b-nt.log'), Buffer.from([0xf0, 0x9f])]);
    expect(diagnoseConsole(bytes)).toMatchObject({ category: 'windows-bugcheck', code: '0x0000007B', evidence: { lines: [{ line: 2 }] } });
  });

  it('a lone CR (a progress spinner rewriting its line) does not start a new line', () => {
    const d = diagnoseConsole('[  *** ] A start job is running for /dev/vda1\r[   12.000000] EXT4-fs error (device vda1): ext4_lookup:1234: inode #2: comm systemd: deleted inode referenced: 12\n');
    expect(d).toMatchObject({ category: 'fs-error', lines: 1, evidence: { lines: [{ line: 1 }] } });
  });

  const pathological: Record<string, string> = {
    'an unclosed OOM process name': 'Out of memory: Kill process 1 (' + '('.repeat(KIB_100),
    'digits after a soft lockup': 'BUG: soft lockup - CPU#' + '1'.repeat(KIB_100),
    'an unclosed GRUB file name': "error: file '" + "/'".repeat(KIB_100 / 2),
    'cloud words after Failed to start': 'Failed to start ' + 'cloud-init '.repeat(KIB_100 / 11),
    'a device name that never ends': 'Timed out waiting for device ' + 'a'.repeat(KIB_100),
    'a keyword repeated on one line': 'Oops '.repeat(KIB_100 / 5),
    'keywords on every line': 'Kernel panic - not syncing: \n'.repeat(KIB_100 / 29),
    'escape sequences that never end': '\x1b['.repeat(KIB_100 / 2),
    'an unclosed EMS STOPCODE property': '"STOPCODE"' + ' '.repeat(KIB_100),
  };
  for (const [what, input] of Object.entries(pathological)) {
    it(`does not backtrack on ${what}`, GUARD, () => {
      expect(() => diagnoseConsole(input)).not.toThrow();
    });
  }
});
