import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isPng, screenshotToPng } from '../../lib/console/screenshot-png.ts';

/** Width, height and the RGB rows of a PNG written by screenshotToPng (filter 0, one IDAT). */
function decode(png: Buffer): { width: number; height: number; rgb: Buffer } {
  expect(isPng(png)).toBe(true);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const idatAt = png.indexOf('IDAT');
  const raw = inflateSync(png.subarray(idatAt + 4, idatAt + 4 + png.readUInt32BE(idatAt - 4)));
  const rows: Buffer[] = [];
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 3 + 1)]).toBe(0);
    rows.push(raw.subarray(y * (width * 3 + 1) + 1, (y + 1) * (width * 3 + 1)));
  }
  return { width, height, rgb: Buffer.concat(rows) };
}

describe('screens as PNG', () => {
  it('re-encodes QEMU\'s binary PPM (P6, with a comment) pixel for pixel', () => {
    const pixels = Buffer.from(Array.from({ length: 3 * 4 * 3 }, (_, i) => (i * 37) % 256));
    const ppm = Buffer.concat([Buffer.from('P6\n# CREATOR: qemu\n4 3\n255\n'), pixels]);
    const png = screenshotToPng(ppm);
    expect(decode(png)).toEqual({ width: 4, height: 3, rgb: pixels });
  });

  it('passes PNG through, and refuses what it cannot read (text PPM, 16-bit, truncated, huge, garbage)', () => {
    const png = screenshotToPng(Buffer.concat([Buffer.from('P6 1 1 255\n'), Buffer.from([1, 2, 3])]));
    expect(screenshotToPng(png)).toBe(png);
    expect(() => screenshotToPng(Buffer.from('P3 1 1 255\n1 2 3\n'))).toThrow(/format/);
    expect(() => screenshotToPng(Buffer.from('P6 1 1 65535\n123456'))).toThrow(/format/);
    expect(() => screenshotToPng(Buffer.from('P6 2 2 255\nabc'))).toThrow(/truncated/);
    expect(() => screenshotToPng(Buffer.from('P6 99999 1 255\n'))).toThrow(/format/);
    expect(() => screenshotToPng(Buffer.from('\x00\x01garbage'))).toThrow(/format/);
  });
});
