/**
 * A bounded map whose entries expire: at most `maxEntries` (the least recently used goes first),
 * each until its own deadline. Token caches use it so that a flood of distinct tokens costs a
 * fixed amount of memory.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.until <= this.#now()) return undefined;
    this.#entries.set(key, entry); // most recently used last
    return entry.value;
  }

  /** Keeps `value` for `ttlMs` (nothing is kept for 0 or less). */
  set(key: string, value: V, ttlMs: number): void {
    this.#entries.delete(key);
    if (ttlMs <= 0 || this.#maxEntries <= 0) return;
    this.#entries.set(key, { value, until: this.#now() + ttlMs });
    while (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
