import type { ConsoleConsumer } from '../console/follower-pool.ts';
import type { ChunkInfo, FollowerEvents } from '../console/log-follower.ts';
import { MAX_SEGMENT_BYTES, type HistoryHead, type HistoryStore } from './history-store.ts';

/** Shipped bytes kept in memory too, so recent reads (a follow, the Nova window) need no S3 GET. */
export const DEFAULT_KEEP_BYTES = 256 * 1024;
/** Unshipped bytes held per console while S3 is unreachable; past it the oldest are dropped (and counted). */
export const DEFAULT_MAX_UNSHIPPED_BYTES = 16 * 1024 * 1024;
/** Output is shipped at most this long after it was written, even without a rotation or a stop. */
export const DEFAULT_SHIP_EVERY_MS = 15 * 60_000;
/** First retry after a failed ship; doubles up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

interface HeldChunk {
  offset: number;
  bytes: Buffer;
  /** The file the bytes came from (dev:ino) and where they start in it. */
  key: string;
  position: number;
}

export interface HistoryEvents {
  shipped: { serverId: string; port: number; start: number; end: number; reason: string };
  ship_failed: { serverId: string; port: number; error: unknown; retryInMs: number };
  /** Another host shipped this console after this one started following it (a migration race, or two agents claiming a server): this host's unshipped bytes go after it. */
  rebased: { serverId: string; port: number; from: number; to: number; otherHost: string };
  /** Bytes that never reached history: the follower skipped them (a flood over its rate), or S3 was down longer than the host could hold them. */
  lost: { serverId: string; port: number; offset: number; bytes: number; why: 'skipped' | 'unshipped-overflow' };
}
export type HistoryObserver = { [E in keyof HistoryEvents]?: (event: HistoryEvents[E]) => void };

export interface ConsoleHistoryOptions {
  serverId: string;
  port: number;
  host: string;
  /** The head as S3 had it when following started: the sequence goes on from its `next`. */
  head: HistoryHead | undefined;
  store: HistoryStore;
  observer?: HistoryObserver;
  keepBytes?: number;
  maxUnshippedBytes?: number;
  shipEveryMs?: number;
}

/**
 * One console's history on its host: every byte the log follower hands over gets the next offset of
 * the console's sequence (continuing the head S3 had), is held in memory, and is shipped to S3 as a
 * segment when a file of the set is complete (rotated), when the log starts over, when the server
 * stops, crashes or leaves, when the agent stops, when a segment is full, and at the latest
 * shipEveryMs after it was written. After shipping, the newest keepBytes stay in memory for reads.
 * A failed ship keeps everything and is retried with a growing wait. Readers wait for new bytes
 * through `waitFor`, woken by the follower's own hand-over.
 */
export class ConsoleHistory implements ConsoleConsumer {
  readonly serverId: string;
  readonly port: number;
  readonly #host: string;
  readonly #store: HistoryStore;
  readonly #observer: HistoryObserver;
  readonly #keep: number;
  readonly #maxUnshipped: number;
  readonly #shipEveryMs: number;
  #chunks: HeldChunk[] = [];
  #held: number;
  #next: number;
  #shipped: number;
  /** Whether S3's head was checked since this host last shipped (a first ship, or one after a failure). */
  #headChecked = false;
  #shipping: Promise<void> | undefined;
  #again: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retryMs = 0;
  #waiters = new Set<{ since: number; wake: () => void }>();
  #closed = false;

  constructor(options: ConsoleHistoryOptions) {
    this.serverId = options.serverId;
    this.port = options.port;
    this.#host = options.host;
    this.#store = options.store;
    this.#observer = options.observer ?? {};
    this.#keep = options.keepBytes ?? DEFAULT_KEEP_BYTES;
    this.#maxUnshipped = options.maxUnshippedBytes ?? DEFAULT_MAX_UNSHIPPED_BYTES;
    this.#shipEveryMs = options.shipEveryMs ?? DEFAULT_SHIP_EVERY_MS;
    const next = options.head?.next ?? 0;
    this.#held = next;
    this.#next = next;
    this.#shipped = next;
  }

  /** The offsets held in memory [held, next), and the end of what S3 has from this host. */
  get state(): { held: number; next: number; shipped: number } {
    return { held: this.#held, next: this.#next, shipped: this.#shipped };
  }

  chunk(chunk: Buffer, info: ChunkInfo): void {
    this.#chunks.push({ offset: this.#next, bytes: chunk, key: info.key, position: info.position });
    this.#next += chunk.length;
    this.#overflow();
    for (const waiter of this.#waiters) if (this.#next > waiter.since) waiter.wake();
    if (this.#next - this.#shipped >= MAX_SEGMENT_BYTES) this.ship('segment full');
    else this.#arm(this.#shipEveryMs);
  }

  /** A log that starts over (append='off' wiped it at a QEMU start) has just ended a boot: ship it. */
  reset(_event: FollowerEvents['reset']): void {
    this.ship('log started over');
  }

  /** A rotated file is complete: its bytes are shipped as a segment of their own. */
  rotated(_event: FollowerEvents['rotated']): void {
    this.ship('file rotated');
  }

  skipped(event: FollowerEvents['skipped']): void {
    this.#emit('lost', { serverId: this.serverId, port: this.port, offset: this.#next, bytes: event.bytes, why: 'skipped' });
  }

  /** The follower stopped (the server left this host, or the agent stops): ship what is held. */
  close(): void {
    this.#closed = true;
    this.ship('no longer followed');
  }

  /** Ships everything held that S3 does not have; resolves when done or failed (a failure is retried later). */
  ship(reason: string): Promise<void> {
    if (this.#shipping) {
      this.#again = reason;
      return this.#shipping;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const run = (async () => {
      try {
        await this.#shipAll(reason);
        this.#retryMs = 0;
      } catch (error) {
        this.#headChecked = false;
        this.#retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.#retryMs * 2));
        this.#emit('ship_failed', { serverId: this.serverId, port: this.port, error, retryInMs: this.#retryMs });
        this.#arm(this.#retryMs, true);
      } finally {
        this.#shipping = undefined;
      }
      const again = this.#again;
      this.#again = undefined;
      if (again !== undefined && this.#retryMs === 0) await this.ship(again);
    })();
    this.#shipping = run;
    return run;
  }

  /** Bytes [since, since + limit) that are held, or the nearest held stretch when `since` is outside. */
  read(since: number, limit: number): { held: number; next: number; shipped: number; offset: number; data: Buffer } {
    const offset = Math.min(Math.max(since, this.#held), this.#next);
    const end = Math.min(this.#next, offset + limit);
    const parts: Buffer[] = [];
    for (const c of this.#chunks) {
      const cEnd = c.offset + c.bytes.length;
      if (cEnd <= offset || c.offset >= end) continue;
      parts.push(c.bytes.subarray(Math.max(0, offset - c.offset), Math.min(c.bytes.length, end - c.offset)));
    }
    return { ...this.state, offset, data: Buffer.concat(parts) };
  }

  /** Resolves once a byte at or past `since` exists, after `ms`, or when `signal` aborts, whichever is first. */
  waitFor(since: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#next > since || ms <= 0 || signal?.aborted || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        since,
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', waiter.wake);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, ms);
      signal?.addEventListener('abort', waiter.wake, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Stops timers and wakes readers; nothing is shipped (call ship first). */
  dispose(): void {
    clearTimeout(this.#timer);
    for (const waiter of [...this.#waiters]) waiter.wake();
  }

  async #shipAll(reason: string): Promise<void> {
    if (!this.#headChecked && this.#next > this.#shipped) await this.#checkHead();
    while (this.#shipped < this.#next) {
      const start = this.#shipped;
      const end = Math.min(this.#next, start + MAX_SEGMENT_BYTES);
      const bytes = this.#slice(start, end);
      await this.#store.putSegment(this.serverId, this.port, start, bytes);
      // A rebase while the PUT was in flight moved these bytes: ship them again at their new offsets.
      if (this.#shipped !== start) continue;
      await this.#store.putHead(this.serverId, this.port, { v: 1, next: end, host: this.#host, file: this.#fileAt(end), at: Date.now() });
      this.#shipped = end;
      this.#emit('shipped', { serverId: this.serverId, port: this.port, start, end, reason });
    }
    this.#trim();
  }

  /**
   * Before this host's first ship (and after a failure), S3's head says whether another host
   * shipped this console meanwhile: the source of a migration shipping its last bytes after the
   * destination started, or a second agent claiming the server. This host's unshipped bytes then
   * go after what the other shipped, so no offset names two different bytes.
   */
  async #checkHead(): Promise<void> {
    const head = await this.#store.getHead(this.serverId, this.port);
    this.#headChecked = true;
    if (!head || head.next <= this.#shipped || head.host === this.#host) return;
    const shift = head.next - this.#shipped;
    this.#emit('rebased', { serverId: this.serverId, port: this.port, from: this.#shipped, to: head.next, otherHost: head.host });
    this.#chunks = this.#chunks.filter((c) => c.offset >= this.#shipped).map((c) => ({ ...c, offset: c.offset + shift }));
    this.#held = Math.max(this.#held, this.#shipped) + shift;
    this.#shipped = head.next;
    this.#next += shift;
  }

  #slice(start: number, end: number): Buffer {
    const parts: Buffer[] = [];
    for (const c of this.#chunks) {
      const cEnd = c.offset + c.bytes.length;
      if (cEnd <= start || c.offset >= end) continue;
      parts.push(c.bytes.subarray(Math.max(0, start - c.offset), Math.min(c.bytes.length, end - c.offset)));
    }
    return Buffer.concat(parts);
  }

  /** The file and position right after byte `end - 1`: where a restarted agent resumes. */
  #fileAt(end: number): HistoryHead['file'] {
    const c = this.#chunks.find((x) => x.offset < end && x.offset + x.bytes.length >= end);
    return c ? { key: c.key, position: c.position + (end - c.offset) } : null;
  }

  /** Keeps the newest keepBytes of what is shipped, and everything unshipped. */
  #trim(): void {
    const keepFrom = Math.min(this.#shipped, Math.max(this.#held, this.#next - this.#keep));
    this.#dropBefore(keepFrom);
  }

  #overflow(): void {
    const unshipped = this.#next - this.#shipped;
    if (unshipped <= this.#maxUnshipped) return;
    const dropTo = this.#next - this.#maxUnshipped;
    this.#emit('lost', { serverId: this.serverId, port: this.port, offset: this.#shipped, bytes: dropTo - this.#shipped, why: 'unshipped-overflow' });
    // These offsets will never be in S3: the sequence keeps them (a gap a reader is told about), and shipping goes on after them.
    this.#shipped = dropTo;
    this.#dropBefore(dropTo);
  }

  #dropBefore(offset: number): void {
    if (offset <= this.#held) return;
    const kept: HeldChunk[] = [];
    for (const c of this.#chunks) {
      const cEnd = c.offset + c.bytes.length;
      if (cEnd <= offset) continue;
      if (c.offset < offset) {
        const cut = offset - c.offset;
        kept.push({ ...c, offset, bytes: c.bytes.subarray(cut), position: c.position + cut });
      } else kept.push(c);
    }
    this.#chunks = kept;
    this.#held = offset;
  }

  #arm(ms: number, force = false): void {
    if (this.#timer !== undefined && !force) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.ship(this.#retryMs > 0 ? 'retry' : 'output older than the ship period');
    }, ms);
    this.#timer.unref();
  }

  #emit<E extends keyof HistoryEvents>(event: E, payload: HistoryEvents[E]): void {
    try {
      this.#observer[event]?.(payload);
    } catch {
      // The observer's bug must not stop shipping.
    }
  }
}
