/**
 * The rate limiter's cost per request: `KeyedRateLimiter.take` (the per-project and API-wide
 * buckets the edge middleware consults after authentication), with 1,000 projects in rotation so
 * the Map lookup and the LRU re-insertion are paid as in a busy environment. Calls are timed in
 * batches (a single call is below the timer's resolution); each sample is one batch's time per call.
 */
import { KeyedRateLimiter } from '../lib/limits/token-bucket.ts';
import { summarize } from './stats.ts';

export interface RateLimiterBench {
  /** Nanoseconds per request. */
  p50Ns: number;
  p99Ns: number;
  meanNs: number;
  samples: number;
  batch: number;
}

export function benchRateLimiter(options: { samples?: number; batch?: number; projects?: number } = {}): RateLimiterBench {
  const samples = options.samples ?? 2_000;
  const batch = options.batch ?? 500;
  const keys = Array.from({ length: options.projects ?? 1_000 }, (_, i) => `project-${i}`);
  // Generous limits: the bench measures the bookkeeping, not refusals.
  const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 1e6, burst: 1e6 }, global: { ratePerSecond: 1e6, burst: 1e6 } });
  let k = 0;
  const run = () => {
    for (let i = 0; i < batch; i++) {
      limiter.take(keys[k]!);
      k = k + 1 === keys.length ? 0 : k + 1;
    }
  };
  for (let i = 0; i < 200; i++) run(); // warm up the JIT
  const perCall: number[] = [];
  for (let s = 0; s < samples; s++) {
    const start = process.hrtime.bigint();
    run();
    perCall.push(Number(process.hrtime.bigint() - start) / batch);
  }
  const summary = summarize(perCall);
  return { p50Ns: summary.p50, p99Ns: summary.p99, meanNs: summary.mean, samples, batch };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(benchRateLimiter());
}
