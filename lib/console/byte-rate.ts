/**
 * A byte budget that refills at `bytesPerSecond` up to `burstBytes`: how much a log follower may
 * read now. Pure, with an injectable clock. The request limiter (lib/limits/token-bucket.ts) counts
 * requests and refuses whole ones; a follower instead asks "how many bytes may I have" and takes
 * part of what it wanted, so this is a bucket of its own.
 */
export class ByteRate {
  #rate: number;
  #burst: number;
  #tokens: number;
  #at: number;
  readonly #now: () => number;

  constructor(bytesPerSecond: number, burstBytes = bytesPerSecond, now: () => number = Date.now) {
    this.#now = now;
    this.#rate = check('bytesPerSecond', bytesPerSecond);
    this.#burst = check('burstBytes', burstBytes);
    this.#tokens = this.#burst;
    this.#at = now();
  }

  /** Changes the rate (the pool shares its global rate out as followers come and go); tokens held stay, up to the new burst. */
  setRate(bytesPerSecond: number, burstBytes = bytesPerSecond): void {
    this.#refill();
    this.#rate = check('bytesPerSecond', bytesPerSecond);
    this.#burst = check('burstBytes', burstBytes);
    this.#tokens = Math.min(this.#tokens, this.#burst);
  }

  get bytesPerSecond(): number {
    return this.#rate;
  }

  /** Bytes that may be read now (whole bytes). */
  available(): number {
    this.#refill();
    return Math.floor(this.#tokens);
  }

  /** Takes up to `wanted` bytes; returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.min(Math.max(0, wanted), this.available());
    this.#tokens -= granted;
    return granted;
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = now - this.#at;
    // Guarded: 0 ms times an Infinity rate is NaN.
    if (elapsed > 0) this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
    this.#at = now;
  }
}

function check(name: string, value: number): number {
  // Infinity is allowed and means "no cap" (a reader that must see every byte, e.g. history shipping).
  if (!(value > 0)) throw new RangeError(`${name} must be positive, got ${value}`);
  return value;
}
