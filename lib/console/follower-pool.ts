import { DEFAULT_FOLLOWER_BYTES_PER_SECOND, LogFollower, type ChunkInfo, type FollowerEvents, type FollowFrom, type LogFollowerOptions } from './log-follower.ts';
import type { RotatedLog } from './rotated-log.ts';

/**
 * Followers a host may run at once. Each costs an inotify watch (shared per directory), a stat a
 * second and a descriptor: 512 is far more guests than a compute host runs, and a bound on what
 * a runaway listing could make the agent open.
 */
export const DEFAULT_MAX_FOLLOWERS = 512;
/**
 * What all followers together may read per second. Read + hand-over costs a few ms of CPU per MiB
 * (npm run bench -- follower); with a first-stage scan on top, 8 MiB/s stays a fraction of one core.
 */
export const DEFAULT_TOTAL_BYTES_PER_SECOND = 8 * 1024 * 1024;
/** A 115200-baud serial console prints at most ~11.5 KiB/s: no follower is ever held below this, so a quiet console is never skipped. */
export const FLOOR_BYTES_PER_SECOND = 16 * 1024;
/** Skips are reported per follower at most once per period, with the bytes summed. */
export const DEFAULT_REPORT_EVERY_MS = 60_000;

/** What the pool hands one console's bytes to: the crash analyser's first stage, history shipping, a test's recorder. */
export interface ConsoleConsumer {
  /** Every new byte, in order, once; offsets only grow. Runs on the follower's path: return quickly. */
  chunk(chunk: Buffer, info: ChunkInfo): void;
  /** The log started over (a reboot with `append='off'`, a truncation): a new boot may follow. */
  reset?(event: FollowerEvents['reset']): void;
  /** A file of the set is complete and read to its end (rotated): history ships it. */
  rotated?(event: FollowerEvents['rotated']): void;
  /** Bytes the cap passed over, as they happen (the pool's owner hears them summed per period). */
  skipped?(event: FollowerEvents['skipped']): void;
  /** The console is no longer followed (the server left, or the pool stopped). */
  close?(): void;
}

export interface PoolEvents {
  started: { id: string; file: string };
  stopped: { id: string; file: string };
  /** Bytes skipped for one console since its last report: at most one report per console per period. */
  skipped: { id: string; file: string; bytes: number; sinceMs: number };
  mode: { id: string; file: string; mode: 'watch' | 'poll'; reason: string };
  /** A console not followed, or followed with trouble: its log set could not be located, a file was refused or failed, the consumer threw. */
  problem: { id: string; file?: string; kind: 'locate' | 'refused' | 'failed' | 'consumer'; detail: string };
  /** More consoles than maxFollowers: these are not followed (said once per change of the list). */
  over_capacity: { max: number; unfollowed: string[] };
}

export type PoolObserver = { [E in keyof PoolEvents]?: (event: PoolEvents[E]) => void };

export interface FollowerPoolOptions<S extends { id: string }> {
  roots: readonly string[];
  /** Where a server's log set is (a driver's consoleLogSet); undefined when it has none. */
  locate(server: S): Promise<Pick<RotatedLog, 'files'> | undefined>;
  consumerFor(server: S): ConsoleConsumer;
  /**
   * Where one server's follower starts, asked before its consumer is made (history shipping
   * resumes where it shipped last); `follower.from` when absent. A failure leaves the server
   * unfollowed until the next sync, reported as a `locate` problem.
   */
  startFor?(server: S): Promise<FollowFrom>;
  observer?: PoolObserver;
  maxFollowers?: number;
  totalBytesPerSecond?: number;
  perFollowerBytesPerSecond?: number;
  reportEveryMs?: number;
  /** Passed to every follower (tests force polling with `watch: false`). */
  follower?: Pick<LogFollowerOptions, 'pollMs' | 'watch' | 'minPassGapMs' | 'from'>;
}

interface Followed {
  follower: LogFollower;
  consumer: ConsoleConsumer;
  skipped: number;
  since: number;
}

/**
 * One log follower per console, started and stopped as servers come and go (`sync` with the
 * driver's listing), with a cap on how many and on what they read together: each gets an equal
 * share of the total rate (never less than a serial console's top speed, never more than its own
 * cap), so a flooding guest is held to its share and a quiet one is never starved by it.
 */
export class FollowerPool<S extends { id: string }> {
  readonly #options: FollowerPoolOptions<S>;
  readonly #observer: PoolObserver;
  readonly #max: number;
  readonly #total: number;
  readonly #perFollower: number;
  readonly #followed = new Map<string, Followed>();
  readonly #reportTimer: NodeJS.Timeout;
  #syncing: Promise<void> = Promise.resolve();
  #unfollowed = '';
  #stopped = false;

  constructor(options: FollowerPoolOptions<S>) {
    this.#options = options;
    this.#observer = options.observer ?? {};
    this.#max = options.maxFollowers ?? DEFAULT_MAX_FOLLOWERS;
    this.#total = options.totalBytesPerSecond ?? DEFAULT_TOTAL_BYTES_PER_SECOND;
    this.#perFollower = options.perFollowerBytesPerSecond ?? DEFAULT_FOLLOWER_BYTES_PER_SECOND;
    this.#reportTimer = setInterval(() => this.#reportSkips(), options.reportEveryMs ?? DEFAULT_REPORT_EVERY_MS);
    this.#reportTimer.unref();
  }

  /** Consoles followed now, by server id. */
  get followed(): string[] {
    return [...this.#followed.keys()];
  }

  /** The rate each follower gets now. */
  get shareBytesPerSecond(): number {
    return this.#share(this.#followed.size);
  }

  /**
   * Follows exactly these servers' consoles (the ones with a log set), up to maxFollowers by id
   * order; a server whose log set moved is followed anew. Calls run one after another.
   */
  sync(servers: readonly S[]): Promise<void> {
    const run = this.#syncing.then(() => this.#sync(servers));
    this.#syncing = run.catch(() => undefined);
    return run;
  }

  /** Reads what one console's log holds now and hands it over (a server about to stop or leave); nothing when not followed. */
  async drain(id: string): Promise<void> {
    await this.#followed.get(id)?.follower.drain();
  }

  /** Stops every follower and tells every consumer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#reportTimer);
    await this.#syncing;
    await Promise.all([...this.#followed.keys()].map((id) => this.#unfollow(id)));
    this.#reportSkips();
  }

  async #sync(servers: readonly S[]): Promise<void> {
    if (this.#stopped) return;
    const located = await Promise.all(servers.map(async (server) => {
      try {
        return { server, log: await this.#options.locate(server) };
      } catch (err) {
        this.#emit('problem', { id: server.id, kind: 'locate', detail: (err as Error).message });
        // A driver that cannot say now keeps what it follows: a transient failure must not stop it.
        return { server, log: this.#followed.has(server.id) ? 'keep' as const : undefined };
      }
    }));
    const wanted = located.filter((l) => l.log !== undefined).sort((a, b) => (a.server.id < b.server.id ? -1 : 1));
    const kept = wanted.slice(0, this.#max);
    const unfollowed = wanted.slice(this.#max).map((l) => l.server.id);
    if (unfollowed.join() !== this.#unfollowed) {
      this.#unfollowed = unfollowed.join();
      if (unfollowed.length > 0) this.#emit('over_capacity', { max: this.#max, unfollowed });
    }

    const keep = new Map(kept.map((l) => [l.server.id, l]));
    for (const [id, followed] of this.#followed) {
      const next = keep.get(id);
      const moved = next && next.log !== 'keep' && next.log!.files[0] !== followed.follower.file;
      if (!next || moved) await this.#unfollow(id);
    }
    for (const { server, log } of kept) {
      if (this.#stopped) return;
      if (this.#followed.has(server.id) || log === 'keep' || log === undefined) continue;
      await this.#follow(server, log);
    }
    const share = this.#share(this.#followed.size);
    for (const { follower } of this.#followed.values()) follower.setRate(share);
  }

  #share(count: number): number {
    return Math.min(this.#perFollower, Math.max(FLOOR_BYTES_PER_SECOND, this.#total / Math.max(1, count)));
  }

  async #follow(server: S, log: Pick<RotatedLog, 'files'>): Promise<void> {
    const { id } = server;
    let from: FollowFrom | undefined;
    try {
      from = await this.#options.startFor?.(server);
    } catch (err) {
      this.#emit('problem', { id, file: log.files[0], kind: 'locate', detail: (err as Error).message });
      return;
    }
    if (this.#stopped) return;
    const consumer = this.#options.consumerFor(server);
    const file = log.files[0]!;
    const problem = (kind: PoolEvents['problem']['kind'], detail: string, at?: string) => this.#emit('problem', { id, file: at ?? file, kind, detail });
    const follower = new LogFollower({
      ...this.#options.follower,
      ...(from !== undefined && { from }),
      log,
      roots: this.#options.roots,
      bytesPerSecond: this.#share(this.#followed.size + 1),
      onChunk: (chunk, info) => consumer.chunk(chunk, info),
      observer: {
        reset: (e) => consumer.reset?.(e),
        rotated: (e) => consumer.rotated?.(e),
        skipped: (e) => {
          const followed = this.#followed.get(id);
          if (followed) followed.skipped += e.bytes;
          consumer.skipped?.(e);
        },
        mode: (e) => this.#emit('mode', { id, file, ...e }),
        refused: (e) => problem('refused', e.detail, e.file),
        failed: (e) => problem('failed', e.error.message, e.file),
        consumer_failed: (e) => problem('consumer', e.error instanceof Error ? e.error.message : String(e.error)),
      },
    });
    this.#followed.set(id, { follower, consumer, skipped: 0, since: Date.now() });
    await follower.start();
    this.#emit('started', { id, file });
  }

  async #unfollow(id: string): Promise<void> {
    const followed = this.#followed.get(id);
    if (!followed) return;
    this.#followed.delete(id);
    await followed.follower.stop();
    this.#reportSkip(id, followed);
    try {
      followed.consumer.close?.();
    } catch (err) {
      this.#emit('problem', { id, file: followed.follower.file, kind: 'consumer', detail: (err as Error).message });
    }
    this.#emit('stopped', { id, file: followed.follower.file });
  }

  #reportSkips(): void {
    for (const [id, followed] of this.#followed) this.#reportSkip(id, followed);
  }

  #reportSkip(id: string, followed: Followed): void {
    const now = Date.now();
    if (followed.skipped > 0) this.#emit('skipped', { id, file: followed.follower.file, bytes: followed.skipped, sinceMs: now - followed.since });
    followed.skipped = 0;
    followed.since = now;
  }

  #emit<E extends keyof PoolEvents>(event: E, payload: PoolEvents[E]): void {
    try {
      this.#observer[event]?.(payload);
    } catch {
      // The observer's bug must not stop the pool.
    }
  }
}
