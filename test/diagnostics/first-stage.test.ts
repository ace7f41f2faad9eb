import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';
import { CRASH_KEYWORDS, FIRST_STAGE_OVERLAP, FirstStageScanner, mayContainCrash } from '../../lib/diagnostics/first-stage.ts';
import { RULES } from '../../lib/diagnostics/rules.ts';
import { consoleFixture, consoleFixtureNames } from './fixture.ts';

const cleanBootPanic = readFileSync(new URL('../../fixtures/boot-logs/clean-boot-panic.log', import.meta.url));

describe('the first stage never misses what the full rules call a problem', () => {
  const crashing = [...consoleFixtureNames().filter((f) => !f.startsWith('healthy-'))];

  for (const name of crashing) {
    it(`${name}: the whole file, every proving line, and 7-byte chunks through a scanner`, () => {
      const bytes = consoleFixture(name);
      const d = diagnoseConsole(bytes);
      expect(d.category).not.toBe('healthy');
      expect(mayContainCrash(bytes)).toBe(true);
      for (const f of d.findings.filter((x) => x.category !== 'healthy')) expect(mayContainCrash(f.evidence.lines[0]!.text)).toBe(true);
      const scanner = new FirstStageScanner();
      let seen = false;
      for (let i = 0; i < bytes.length; i += 7) seen = scanner.scan(bytes.subarray(i, i + 7)) || seen;
      expect(seen).toBe(true);
    });
  }

  it('the real VFS panic, split anywhere', () => {
    const at = cleanBootPanic.indexOf('Kernel panic') + 6;
    const scanner = new FirstStageScanner();
    expect(scanner.scan(cleanBootPanic.subarray(0, at))).toBe(false);
    expect(scanner.scan(cleanBootPanic.subarray(at))).toBe(true);
  });

  it('every rule that can make a problem has keywords, and all of them are in the first stage', () => {
    for (const rule of RULES.filter((r) => r.category !== 'healthy')) {
      expect(rule.keywords.length).toBeGreaterThan(0);
      for (const k of rule.keywords) expect(CRASH_KEYWORDS).toContain(k);
    }
    expect(FIRST_STAGE_OVERLAP).toBe(Math.max(...CRASH_KEYWORDS.map((k) => k.length)) - 1);
  });

  it('sees a keyword with an ANSI escape or NUL inside it, as the analyser does', () => {
    expect(mayContainCrash(Buffer.from('Kernel \x1b[1mpanic - not syncing'))).toBe(true);
    expect(mayContainCrash('soft \x00lockup')).toBe(true);
  });
});

describe('the first stage stays quiet on a healthy boot', () => {
  it('says no for the 250 lines of the real boot before its panic, and for ACPI noise', () => {
    const lines = cleanBootPanic.toString('latin1').split('\n');
    expect(mayContainCrash(lines.slice(0, 250).join('\n'))).toBe(false);
    expect(mayContainCrash(consoleFixture('healthy-acpi-noise-6.x.log'))).toBe(false);
  });

  it('a keyword already reported is not reported again with the next chunk', () => {
    const scanner = new FirstStageScanner();
    expect(scanner.scan('[ 1.0] Kernel panic - not syncing: x')).toBe(true);
    expect(scanner.scan('\n[ 1.1] CPU: 0 PID: 1 Comm: swapper/0')).toBe(false);
    scanner.reset();
    expect(scanner.scan('nic - not syncing')).toBe(false);
  });
});
