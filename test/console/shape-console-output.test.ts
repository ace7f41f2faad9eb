import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeConsoleBytes, shapeConsoleOutput, truncateLines } from '../../lib/console/shape-console-output.ts';
import { VmconsoleError } from '../../lib/errors.ts';

const b = (s: string) => Buffer.from(s, 'latin1');
const t = (s: string, n: number | null) => truncateLines(b(s), n).toString('latin1');

describe('truncateLines (Nova _tail_log)', () => {
  it.each([
    [null, 'l0\nl1\nl2\n'],
    [0, ''],
    [1, ''],
    [2, 'l2\n'],
    [3, 'l1\nl2\n'],
    [4, 'l0\nl1\nl2\n'],
    [100, 'l0\nl1\nl2\n'],
    [-1, 'l1\nl2\n'],
  ])('spec table: length %s', (length, expected) => {
    expect(t('l0\nl1\nl2\n', length)).toBe(expected);
  });

  it('gives tempest its three pieces for length 3', () => {
    const out = shapeConsoleOutput(b('boot\nline a\nline b\nline c\nlast'), 3);
    expect(out).toBe('line b\nline c\nlast');
    expect(out.split('\n')).toHaveLength(3);
  });

  it('handles logs with no newline at all', () => {
    expect(t('partial', 1)).toBe('partial');
    expect(t('partial', 5)).toBe('partial');
    expect(t('partial', -1)).toBe('');
    expect(t('partial', 0)).toBe('');
  });

  it('handles empty logs and logs that are only newlines', () => {
    expect(t('', 1)).toBe('');
    expect(t('', -1)).toBe('');
    expect(t('\n', 1)).toBe('');
    expect(t('\n', 2)).toBe('\n');
    expect(t('\n', -1)).toBe('');
    expect(t('\n\n', 2)).toBe('\n');
    expect(t('\nx', 1)).toBe('x');
    expect(t('\nx', 2)).toBe('\nx');
  });

  it('keeps a partial first line as a line', () => {
    expect(t('tial line\nnext\n', 3)).toBe('tial line\nnext\n');
    expect(t('tial line\nnext\n', -1)).toBe('next\n');
  });

  it('returns a view, not a copy', () => {
    const raw = b('a\nb\nc');
    expect(truncateLines(raw, 2).buffer).toBe(raw.buffer);
  });

  it('rejects a non-integer length with a typed error', () => {
    expect(() => truncateLines(b('x'), 2.5)).toThrow(VmconsoleError);
    expect(() => truncateLines(b('x'), Number.NaN)).toThrow(VmconsoleError);
  });

  it('matches CPython on random logs and lengths', () => {
    const cases: { log: string; n: number }[] = [];
    let seed = 7;
    const rand = (k: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % k;
    };
    for (let i = 0; i < 300; i++) {
      const bytes = Array.from({ length: rand(12) }, () => [0x0a, 0x61, 0x0d, 0x00, 0xe9][rand(5)]!);
      cases.push({ log: Buffer.from(bytes).toString('hex'), n: rand(9) - 3 });
    }
    const python = [
      'import json, sys',
      'out = []',
      'for c in json.load(sys.stdin):',
      '    log, n = bytes.fromhex(c["log"]), c["n"]',
      '    r = b"" if n == 0 else b"\\n".join(log.split(b"\\n")[-n:])',
      '    out.append(r.hex())',
      'print(json.dumps(out))',
    ].join('\n');
    const expected = JSON.parse(execFileSync('/usr/bin/python3', ['-c', python], { input: JSON.stringify(cases) }).toString()) as string[];
    const actual = cases.map((c) => truncateLines(Buffer.from(c.log, 'hex'), c.n).toString('hex'));
    expect(actual).toEqual(expected);
  });
});

describe('decodeConsoleBytes (ASCII with replacement, control characters removed)', () => {
  it('matches the spec example', () => {
    expect(decodeConsoleBytes(b('a\r\nb\x1b[0mc\x7f\t\x00'))).toBe('a\nb[0mc\x7f\t');
  });

  it('turns each byte of UTF-8 é into its own U+FFFD', () => {
    expect(decodeConsoleBytes(Buffer.from('café\n', 'utf8'))).toBe('caf\uFFFD\uFFFD\n');
  });

  it('replaces invalid UTF-8 and every high byte one for one', () => {
    expect(decodeConsoleBytes(Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x80, 0x80]))).toBe('\uFFFD\uFFFDA\uFFFD\uFFFD\uFFFD');
  });

  it('removes NUL bytes and every control character except tab and newline', () => {
    const all = Buffer.from(Array.from({ length: 0x20 }, (_, i) => i));
    expect(decodeConsoleBytes(all)).toBe('\t\n');
    expect(decodeConsoleBytes(b('a\x00\x00b'))).toBe('ab');
  });

  it('keeps printable ASCII and DEL unchanged', () => {
    const printable = Buffer.from(Array.from({ length: 0x80 - 0x20 }, (_, i) => i + 0x20));
    expect(decodeConsoleBytes(printable)).toBe(printable.toString('latin1'));
  });

  it('decodes a binary log: one output character per kept byte', () => {
    const raw = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 17) & 0xff));
    const out = decodeConsoleBytes(raw);
    const kept = [...raw].filter((x) => x >= 0x20 || x === 0x09 || x === 0x0a);
    expect(out).toHaveLength(kept.length);
    expect([...out].every((ch, i) => (kept[i]! >= 0x80 ? ch === '\uFFFD' : ch.charCodeAt(0) === kept[i]))).toBe(true);
  });
});

describe('shapeConsoleOutput', () => {
  it('truncates on raw bytes before decoding', () => {
    // The CR before each newline is counted as part of its line, then removed by decoding.
    expect(shapeConsoleOutput(b('one\r\ntwo\r\nthree\r\n'), 2)).toBe('three\n');
    expect(shapeConsoleOutput(b('one\r\ntwo\r\nthree\r\n'), null)).toBe('one\ntwo\nthree\n');
  });
});
