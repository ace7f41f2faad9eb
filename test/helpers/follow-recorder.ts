import { LogFollower, type ChunkInfo, type FollowerEvents, type LogFollowerOptions } from '../../lib/console/log-follower.ts';

/** Every event a follower raised, in order, by name. */
export type RecordedEvent = { [E in keyof FollowerEvents]: { event: E } & FollowerEvents[E] }[keyof FollowerEvents];

/**
 * A real consumer that keeps what it was handed: the chunks with their offsets, and every event.
 * `reached(n)` resolves once the follower's stream has passed offset n (delivered or skipped),
 * driven by the follower's own callbacks, not by polling.
 */
export class FollowRecorder {
  readonly chunks: { chunk: Buffer; info: ChunkInfo }[] = [];
  readonly events: RecordedEvent[] = [];
  readonly follower: LogFollower;
  #waiters: { offset: number; resolve: () => void }[] = [];
  /** How far the stream is known to have gone: a skip is reported before the offset moves past it. */
  #mark = 0;

  constructor(options: Omit<LogFollowerOptions, 'onChunk' | 'observer'>) {
    const record = <E extends keyof FollowerEvents>(event: E) => (payload: FollowerEvents[E]) => {
      this.events.push({ event, ...payload } as RecordedEvent);
      if (event === 'skipped') {
        const { offset, bytes } = payload as FollowerEvents['skipped'];
        this.#mark = Math.max(this.#mark, offset + bytes);
      }
      this.#settle();
    };
    this.follower = new LogFollower({
      ...options,
      onChunk: (chunk, info) => {
        this.chunks.push({ chunk, info });
        this.#settle();
      },
      observer: {
        skipped: record('skipped'), reset: record('reset'), rotated: record('rotated'), mode: record('mode'),
        refused: record('refused'), failed: record('failed'), consumer_failed: record('consumer_failed'),
      },
    });
  }

  /** Everything delivered, concatenated. */
  get bytes(): Buffer {
    return Buffer.concat(this.chunks.map((c) => c.chunk));
  }

  get delivered(): number {
    return this.chunks.reduce((n, c) => n + c.chunk.length, 0);
  }

  get skipped(): number {
    return this.events.reduce((n, e) => n + (e.event === 'skipped' ? e.bytes : 0), 0);
  }

  of<E extends keyof FollowerEvents>(event: E): ({ event: E } & FollowerEvents[E])[] {
    return this.events.filter((e): e is { event: E } & FollowerEvents[E] & RecordedEvent => e.event === event);
  }

  /** Resolves once offset `n` is passed; fails naming what was seen after `timeoutMs` (a guard, not a timing assertion). */
  reached(n: number, timeoutMs = 15_000): Promise<void> {
    if (this.#at() >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`follower at offset ${this.follower.offset}, waited for ${n}; events: ${JSON.stringify(this.events.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ offset: n, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }

  #at(): number {
    return Math.max(this.#mark, this.follower.offset);
  }

  #settle(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#at() < w.offset) return true;
      w.resolve();
      return false;
    });
  }
}
