import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';

const bootLog = (name: string) => readFileSync(new URL(`../../fixtures/boot-logs/${name}`, import.meta.url));

describe('the real guest boot logs (fixtures/boot-logs)', () => {
  it('diagnoses the clean boot ending in a VFS panic, with its line and call trace', () => {
    const d = diagnoseConsole(bootLog('clean-boot-panic.log'));
    expect(d).toMatchObject({
      category: 'kernel-panic',
      severity: 'critical',
      reason: 'VFS: Unable to mount root fs on unknown-block(0,0)',
      boot: { index: 1, count: 1, firstLine: 1, lastLine: 269, latest: true, startedBy: { line: 1 } },
      lines: 269,
    });
    expect(d.summary).toBe('The kernel panicked: VFS: Unable to mount root fs on unknown-block(0,0).');
    expect(d.evidence.lines).toEqual([{ line: 254, text: '[    1.404035] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)' }]);
    expect(d.evidence.context.kind).toBe('call-trace');
    expect(d.evidence.context.lines.map((l) => l.line)).toEqual([...Array(15).keys()].map((i) => 255 + i));
    // CRLF endings are not part of the evidence.
    expect(d.evidence.context.lines.at(-1)!.text).toBe('[    1.404035] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---');
    expect(d.findings.map((f) => f.rule)).toEqual(['kernel-panic']);
  });

  it('gives the same answer for the Nova API string as for the bytes', () => {
    const bytes = bootLog('clean-boot-panic.log');
    expect(diagnoseConsole(bytes.toString('utf8'))).toEqual(diagnoseConsole(bytes));
  });

  it('reads the live rotated file, which starts mid-line in the newest boot', () => {
    const d = diagnoseConsole(bootLog('rotated/console.log'));
    expect(d).toMatchObject({ category: 'kernel-panic', boot: { index: 1, count: 1, latest: true }, evidence: { lines: [{ line: 50 }] } });
  });

  it('diagnoses the boot that panicked when the newest boot in the window has only started', () => {
    // console.log.1: the end of boot 2 (its panic at line 19), then boot 3 from `Linux version` at line 35.
    const d = diagnoseConsole(bootLog('rotated/console.log.1'));
    expect(d).toMatchObject({ category: 'kernel-panic', boot: { index: 1, count: 2, firstLine: 1, lastLine: 34, latest: false } });
    expect(d.evidence.lines[0]!.line).toBe(19);
    expect(diagnoseConsole(bootLog('rotated/console.log.1'), { boot: 2 })).toMatchObject({ category: 'healthy', severity: 'info', boot: { index: 2, firstLine: 35, startedBy: { line: 35 } } });
  });

  it('proves a panic from its end marker alone when rotation cut off the panic line', () => {
    // console.log.2 starts mid-line inside boot 1's panic message: only the closing "---[ end Kernel panic" is left.
    const d = diagnoseConsole(bootLog('rotated/console.log.2'));
    expect(d).toMatchObject({ category: 'kernel-panic', reason: 'VFS: Unable to mount root fs on unknown-block(0,0)', boot: { index: 1, count: 2, lastLine: 16, latest: false } });
    expect(d.findings.map((f) => [f.rule, f.line])).toEqual([['kernel-panic-end', 16]]);
  });
});
