import { describe, expect, it } from 'vitest';
import { ByteRate } from '../../lib/console/byte-rate.ts';

describe('ByteRate', () => {
  it('grants up to the burst, then what the rate refills, never more than asked', () => {
    let now = 0;
    const rate = new ByteRate(1000, 500, () => now);
    expect(rate.take(800)).toBe(500);
    expect(rate.take(10)).toBe(0);
    now += 100;
    expect(rate.take(10)).toBe(10);
    expect(rate.take(1000)).toBe(90);
    now += 10_000;
    expect(rate.available()).toBe(500);
  });

  it('a new rate applies from now on and caps what is held at the new burst', () => {
    let now = 0;
    const rate = new ByteRate(1000, 1000, () => now);
    rate.setRate(100);
    expect(rate.available()).toBe(100);
    rate.take(100);
    now += 500;
    expect(rate.available()).toBe(50);
  });

  it('Infinity means no cap; zero, negative and NaN are refused', () => {
    const rate = new ByteRate(Infinity);
    expect(rate.take(5e9)).toBe(5e9);
    expect(rate.take(5e9)).toBe(5e9);
    for (const bad of [0, -1, Number.NaN]) expect(() => new ByteRate(bad)).toThrow(RangeError);
  });
});
