/**
 * Token buckets for rate limits: pure, with an injectable clock, so the edge's middleware and a
 * queue router can share them. A bucket holds up to `burst` tokens and gains `ratePerSecond` per
 * second; each request takes one. A rate of 0 turns the limit off.
 */
export interface BucketLimit {
  ratePerSecond: number;
  burst: number;
}

export type Verdict = { allowed: true } | { allowed: false; retryAfterMs: number; scope: 'key' | 'global' };

interface Bucket {
  tokens: number;
  at: number;
}

function refill(bucket: Bucket, limit: BucketLimit, now: number): void {
  const elapsed = Math.max(0, now - bucket.at);
  bucket.tokens = Math.min(limit.burst, bucket.tokens + (elapsed * limit.ratePerSecond) / 1000);
  bucket.at = now;
}

/** How long until `need` tokens are there (bucket already refilled to `now`). */
function waitFor(bucket: Bucket, limit: BucketLimit, need = 1): number {
  // The epsilon absorbs float dust (0.998 tokens at 2/s is 1 ms away, not 1.0000000000000009).
  return Math.max(1, Math.ceil(((need - bucket.tokens) * 1000) / limit.ratePerSecond - 1e-6));
}

export interface KeyedLimiterOptions {
  /** Per key (a project). */
  perKey: BucketLimit;
  /** Across every key (the whole API). */
  global: BucketLimit;
  now?: () => number;
  /**
   * Keys remembered at most. Beyond it the longest-idle key is forgotten; a forgotten key comes
   * back with a full bucket, which only matters for a key idle long enough to have refilled anyway
   * unless more than this many projects are active at once in one environment.
   */
  maxKeys?: number;
}

/**
 * One bucket per key plus one shared by all keys. A request is allowed only when both have a
 * token, and takes one from each; a refusal takes nothing, so a flooding project cannot drain the
 * global bucket with requests it is refused anyway.
 */
export class KeyedRateLimiter {
  readonly #perKey: BucketLimit;
  readonly #global: BucketLimit;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #globalBucket: Bucket;

  constructor(options: KeyedLimiterOptions) {
    for (const [name, limit] of [['perKey', options.perKey], ['global', options.global]] as const) {
      if (!(limit.ratePerSecond >= 0) || !(limit.burst >= 1) || !Number.isFinite(limit.ratePerSecond) || !Number.isFinite(limit.burst)) {
        throw new Error(`rate limit ${name}: ratePerSecond must be >= 0 and burst >= 1 (got ${limit.ratePerSecond}, ${limit.burst})`);
      }
    }
    this.#perKey = options.perKey;
    this.#global = options.global;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#globalBucket = { tokens: options.global.burst, at: this.#now() };
  }

  /**
   * Take `cost` tokens (a queue request costs one per server) from both buckets, or none. A cost
   * above a bucket's burst takes the whole burst, so any request can pass once the bucket is full.
   */
  take(key: string, cost = 1): Verdict {
    const now = this.#now();
    const keyed = this.#perKey.ratePerSecond > 0 ? this.#bucketOf(key, now) : undefined;
    const global = this.#global.ratePerSecond > 0 ? this.#globalBucket : undefined;
    const keyedNeed = Math.min(cost, this.#perKey.burst);
    const globalNeed = Math.min(cost, this.#global.burst);
    if (keyed) refill(keyed, this.#perKey, now);
    if (global) refill(global, this.#global, now);
    if (keyed && keyed.tokens < keyedNeed) return { allowed: false, retryAfterMs: waitFor(keyed, this.#perKey, keyedNeed), scope: 'key' };
    if (global && global.tokens < globalNeed) return { allowed: false, retryAfterMs: waitFor(global, this.#global, globalNeed), scope: 'global' };
    if (keyed) keyed.tokens -= keyedNeed;
    if (global) global.tokens -= globalNeed;
    return { allowed: true };
  }

  #bucketOf(key: string, now: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket) {
      // Map order is insertion order: re-inserting keeps the most recently used keys last.
      this.#buckets.delete(key);
    } else {
      bucket = { tokens: this.#perKey.burst, at: now };
      if (this.#buckets.size >= this.#maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(key, bucket);
    return bucket;
  }
}
