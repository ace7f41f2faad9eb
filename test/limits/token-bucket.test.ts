import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../lib/limits/token-bucket.ts';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('KeyedRateLimiter', () => {
  it('allows a burst, then refuses with the time until the next token', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 2, burst: 3 }, global: { ratePerSecond: 0, burst: 1 }, now: c.now });
    expect([1, 2, 3].map(() => limiter.take('p').allowed)).toEqual([true, true, true]);
    expect(limiter.take('p')).toEqual({ allowed: false, retryAfterMs: 500, scope: 'key' });
    c.t += 499;
    expect(limiter.take('p')).toEqual({ allowed: false, retryAfterMs: 1, scope: 'key' });
    c.t += 1;
    expect(limiter.take('p').allowed).toBe(true);
    expect(limiter.take('p').allowed).toBe(false);
  });

  it('keeps projects apart: one project flooding does not spend another\'s budget', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 1, burst: 2 }, global: { ratePerSecond: 100, burst: 100 }, now: c.now });
    for (let i = 0; i < 50; i++) limiter.take('flooder');
    expect(limiter.take('flooder').allowed).toBe(false);
    expect(limiter.take('quiet').allowed).toBe(true);
    expect(limiter.take('quiet').allowed).toBe(true);
  });

  it('the global bucket bounds all projects together; refusals take no global tokens', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 1, burst: 1 }, global: { ratePerSecond: 10, burst: 3 }, now: c.now });
    // A refused project request must not drain the shared bucket.
    limiter.take('a');
    for (let i = 0; i < 20; i++) expect(limiter.take('a')).toMatchObject({ allowed: false, scope: 'key' });
    expect(limiter.take('b').allowed).toBe(true);
    expect(limiter.take('c').allowed).toBe(true);
    expect(limiter.take('d')).toEqual({ allowed: false, retryAfterMs: 100, scope: 'global' });
    c.t += 100;
    expect(limiter.take('d').allowed).toBe(true);
  });

  it('refills no higher than the burst after a long idle time', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 5, burst: 2 }, global: { ratePerSecond: 0, burst: 1 }, now: c.now });
    limiter.take('p');
    c.t += 3_600_000;
    expect([1, 2, 3].map(() => limiter.take('p').allowed)).toEqual([true, true, false]);
  });

  it('a rate of 0 turns a limit off', () => {
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 0, burst: 1 }, global: { ratePerSecond: 0, burst: 1 } });
    for (let i = 0; i < 1000; i++) expect(limiter.take('p').allowed).toBe(true);
  });

  it('forgets the longest-idle project beyond maxKeys (it comes back with a full bucket)', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 1, burst: 1 }, global: { ratePerSecond: 0, burst: 1 }, now: c.now, maxKeys: 2 });
    limiter.take('a');
    limiter.take('b');
    expect(limiter.take('a').allowed).toBe(false); // a is now the most recently used
    limiter.take('c'); // evicts b, not a
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it.each([
    [{ ratePerSecond: -1, burst: 1 }],
    [{ ratePerSecond: 1, burst: 0 }],
    [{ ratePerSecond: Number.NaN, burst: 1 }],
    [{ ratePerSecond: 1, burst: Number.POSITIVE_INFINITY }],
  ])('refuses the limit %j', (perKey) => {
    expect(() => new KeyedRateLimiter({ perKey, global: { ratePerSecond: 1, burst: 1 } })).toThrow(/ratePerSecond must be >= 0 and burst >= 1/);
  });
});

describe('KeyedRateLimiter with a cost (a queue request costs one token per server)', () => {
  it('takes the cost from both buckets, or nothing, and says when the whole cost is there', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 10, burst: 100 }, global: { ratePerSecond: 1000, burst: 1000 }, now: c.now });
    expect(limiter.take('p', 60).allowed).toBe(true);
    expect(limiter.take('p', 60)).toEqual({ allowed: false, retryAfterMs: 2_000, scope: 'key' });
    expect(limiter.take('p', 40).allowed).toBe(true);
    expect(limiter.take('p', 1).allowed).toBe(false);
  });

  it('a cost above the burst takes the whole burst, so it passes once the bucket is full', () => {
    const c = clock();
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 10, burst: 100 }, global: { ratePerSecond: 0, burst: 1 }, now: c.now });
    expect(limiter.take('p', 1000).allowed).toBe(true);
    expect(limiter.take('p', 1000)).toEqual({ allowed: false, retryAfterMs: 10_000, scope: 'key' });
    c.t += 10_000;
    expect(limiter.take('p', 1000).allowed).toBe(true);
  });
});
