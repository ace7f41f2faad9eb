import { statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isVmconsoleError } from '../errors.ts';
import { ByteRate } from './byte-rate.ts';
import { openConfined, resolveRoots, type ConfinedFile } from './open-confined.ts';
import type { RotatedLog } from './rotated-log.ts';

/**
 * A serial console prints at most ~11.5 KiB/s at 115200 baud, and a whole boot is 50-200 KiB: a
 * console above 1 MiB/s is flooding. Beyond it the oldest unread bytes are skipped (and counted),
 * so the newest output, where a panic is, still arrives within a second.
 */
export const DEFAULT_FOLLOWER_BYTES_PER_SECOND = 1024 * 1024;
/** The safety net under inotify (which misses events on some file systems) and the only way when watching fails. */
export const DEFAULT_POLL_MS = 1000;
/**
 * A flooding guest makes inotify fire for every write: passes are at least this far apart, so a
 * flood costs at most ten small passes a second, while a single line still arrives at once.
 */
export const DEFAULT_MIN_PASS_GAP_MS = 100;
/** Bytes per read and per chunk handed over: the most one follower holds at a time. */
export const CHUNK_BYTES = 64 * 1024;

export interface ChunkInfo {
  /** Where the chunk's first byte is in this follower's stream: every byte delivered or skipped before it. Only grows. */
  offset: number;
  /** The name the file had when the follower opened it (the live name, or the backup it was found under). */
  file: string;
  /** Where the chunk starts in that file. */
  position: number;
  /** What that file is (dev:ino), whatever it is called later: where a resumed follower picks up (history shipping). */
  key: string;
}

/**
 * Where a follower starts: `end` (only what is written from now on), `start` (the live file from
 * its first byte), `all` (every file of the set, oldest backup first), or `resume` after the byte
 * `position` of the file `key` (dev:ino) as a follower that stopped there left it: that file
 * (live or rotated since), then everything newer. A `resume` whose file is gone (rotated out of
 * the set, wiped by `append='off'`) or shorter than `position` (truncated) starts as `all`: all of
 * the set is output the earlier follower never saw.
 */
export type FollowFrom = 'end' | 'start' | 'all' | { resume: { key: string; position: number } };

/** Gets every new byte in order, once. Runs on the follower's path: return quickly; the chunk is the consumer's to keep. */
export type ChunkConsumer = (chunk: Buffer, info: ChunkInfo) => void;

export interface FollowerEvents {
  /** Bytes passed over without reading, oldest first, because the console wrote faster than its cap; `offset` is the first of them. */
  skipped: { offset: number; bytes: number };
  /** The log started over: truncated in place, or deleted and created again (virtlogd's `append='off'` at every QEMU start). */
  reset: { offset: number; reason: 'truncated' | 'recreated' };
  /** A file the follower read is complete: rotated to a backup name (`file`, undefined when it has left the set already) and read to its end. */
  rotated: { file: string | undefined; endOffset: number };
  /** How new bytes are noticed now: inotify (`watch`) or stat every pollMs (`poll`, with why). */
  mode: { mode: 'watch' | 'poll'; reason: string };
  /** A file of the set that is not the agent's to read (outside the roots, a link, not a regular file); reported once until it changes. */
  refused: { file: string; detail: string };
  /** The host failing to stat, open or read; reported once until the file is read again. */
  failed: { file: string; error: Error };
  /** The consumer threw: its bug, reported, and following goes on. */
  consumer_failed: { offset: number; error: unknown };
}

/** One optional handler per event: the follower logs nothing itself, its owner logs and meters from these. */
export type FollowerObserver = { [E in keyof FollowerEvents]?: (event: FollowerEvents[E]) => void };

export interface LogFollowerOptions {
  /** The log set's names, live file first then backups newest first (rotated-log.ts). */
  log: Pick<RotatedLog, 'files'>;
  /** The agent's log roots: every file is opened with openConfined, as the window reader does. */
  roots: readonly string[];
  onChunk: ChunkConsumer;
  observer?: FollowerObserver;
  /** Where to start (FollowFrom); `end` by default. */
  from?: FollowFrom;
  /** Read cap; Infinity for a reader that must see every byte. */
  bytesPerSecond?: number;
  /** How much may be read at once after a quiet spell (default: one second's worth). */
  burstBytes?: number;
  pollMs?: number;
  /** False forces polling (tests, and file systems where inotify is known not to work). */
  watch?: boolean;
  minPassGapMs?: number;
}

interface OpenLog {
  file: string;
  handle: ConfinedFile['handle'];
  key: string;
  position: number;
}

/** A stretch of one file to read in this pass: from its position to `to`. */
interface Segment {
  log: OpenLog;
  to: number;
  /** The file is complete: close it once read, and say so. */
  complete?: { file: string | undefined };
  /** The stream starts over here (the file before it was deleted with the set). */
  resetBefore?: boolean;
}

interface Backup {
  file: string;
  key: string;
}

/** Looks at a set whose names keep moving before settling for a partial view: rotations are a few renames, done in microseconds. */
const MAX_ATTEMPTS = 20;

/** dev + inode: what a file is, whatever it is called now. */
const keyOf = (st: Stats) => `${st.dev}:${st.ino}`;

/**
 * Follows one console's rotated log set and hands every new byte to `onChunk`, in order, once.
 *
 * New bytes are noticed through inotify on the directory (files are replaced on rotation, so the
 * directory is watched, not a file) with a stat every `pollMs` beside it; reads are positional
 * from the last offset. A file is recognised by dev + inode: when the live name names another
 * file, the one held open is read to its end through its descriptor (renamed to `.0`/`.1`, or
 * deleted), then backups that appeared since and were never read (several rotations between two
 * looks), oldest first, then the new live file from 0. A live file that shrank was truncated, one
 * that was deleted with its backups was wiped (`append='off'`): both start over at 0, reported as
 * 'reset'. The stream offset keeps growing across all of it.
 *
 * Memory is one chunk at a time plus a few descriptors; CPU is bounded by the byte cap and by
 * passes being at least minPassGapMs apart. Files are opened only through openConfined.
 */
export class LogFollower {
  readonly #files: readonly string[];
  readonly #dir: string;
  readonly #names: ReadonlySet<string>;
  readonly #roots: readonly string[];
  readonly #onChunk: ChunkConsumer;
  readonly #observer: FollowerObserver;
  readonly #from: FollowFrom;
  readonly #rate: ByteRate;
  readonly #pollMs: number;
  readonly #watchWanted: boolean;
  readonly #minGapMs: number;

  #held: OpenLog | undefined;
  /** Files of the set whose bytes are accounted for (read, being read, or there before the follower started). */
  #seen = new Set<string>();
  /** The held file was deleted with no backups left: the next live file is a new start. */
  #wiped = false;
  #offset = 0;
  #mode: 'watch' | 'poll' | undefined;
  #watcher: FSWatcher | undefined;
  #watchedDir: string | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #passTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #lastPassAt = 0;
  #started = false;
  #stopped = false;
  /** Problems already reported, so a refused link is said once, not every second. */
  readonly #reported = new Set<string>();

  constructor(options: LogFollowerOptions) {
    const [live] = options.log.files;
    if (live === undefined) throw new RangeError('a log set needs at least its live file');
    this.#files = options.log.files;
    this.#dir = dirname(live);
    this.#names = new Set(this.#files.map((f) => basename(f)));
    this.#roots = options.roots;
    this.#onChunk = options.onChunk;
    this.#observer = options.observer ?? {};
    this.#from = options.from ?? 'end';
    const rate = options.bytesPerSecond ?? DEFAULT_FOLLOWER_BYTES_PER_SECOND;
    this.#rate = new ByteRate(rate, options.burstBytes ?? rate);
    this.#pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    this.#watchWanted = options.watch ?? true;
    this.#minGapMs = options.minPassGapMs ?? DEFAULT_MIN_PASS_GAP_MS;
  }

  /** The stream offset of the next byte: everything delivered or skipped so far. */
  get offset(): number {
    return this.#offset;
  }

  get mode(): 'watch' | 'poll' | undefined {
    return this.#mode;
  }

  /** The live file's name, for the owner's logs. */
  get file(): string {
    return this.#files[0]!;
  }

  /** Takes the set as it is now (per `from`: its end, the live file's start, all of it, or a resume point), then follows it. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('a log follower starts once');
    this.#started = true;
    const live = await this.#open(this.#files[0]!);
    if (live.log) {
      if (this.#from === 'end') live.log.position = live.size;
      this.#held = live.log;
      this.#seen.add(live.log.key);
    }
    // Backups are looked at after the live file is opened: one rotated since then (newer than
    // the held file) is new output, read at the next pass; the older ones were there before.
    const backups = this.#statBackups();
    const heldIndex = live.log ? backups.findIndex((b) => b.key === live.log!.key) : -1;
    const earlier = await this.#startEarlier(live, backups);
    if (!earlier) for (const backup of backups.slice(Math.max(0, heldIndex))) this.#seen.add(backup.key);
    if (this.#stopped) return this.#release();
    this.#ensureWatch();
    this.#pollTimer = setInterval(() => {
      this.#ensureWatch();
      this.#kick();
    }, this.#pollMs);
    this.#kick();
  }

  /**
   * `resume` and `all` may start in a backup: it becomes the held file, the backups from it on are
   * accounted for, and the first pass reads it to its end, then the newer backups oldest first,
   * then the live file from 0 (the rotation path). False when the start is in the live file.
   */
  async #startEarlier(live: { log?: OpenLog; size: number }, backups: Backup[]): Promise<boolean> {
    const from = this.#from;
    if (from === 'end' || from === 'start') return false;
    if (typeof from === 'object' && live.log?.key === from.resume.key && live.size >= from.resume.position) {
      live.log.position = from.resume.position;
      return false;
    }
    const resumeIndex = typeof from === 'object' ? backups.findIndex((b) => b.key === from.resume.key) : -1;
    const index = resumeIndex >= 0 ? resumeIndex : backups.length - 1;
    const backup = backups[index];
    if (!backup) return false;
    const opened = await this.#open(backup.file);
    if (!opened.log || opened.log.key !== backup.key) {
      // Rotated again between the two looks: start with the live file (what is older is lost to this follower).
      await opened.log?.handle.close().catch(() => undefined);
      return false;
    }
    const position = resumeIndex >= 0 && typeof from === 'object' ? from.resume.position : 0;
    if (opened.size < position) opened.log.position = 0;
    else opened.log.position = position;
    await live.log?.handle.close().catch(() => undefined);
    this.#held = opened.log;
    this.#seen = new Set(backups.slice(index).map((b) => b.key));
    return true;
  }

  /** Reads what is there now and resolves once it has been handed over: before a server leaves or the agent stops. */
  async drain(): Promise<void> {
    if (this.#stopped || !this.#started) return;
    clearTimeout(this.#passTimer);
    this.#passTimer = undefined;
    while (this.#running) await this.#running;
    await this.#runPass();
  }

  /** Releases the watcher, timers and descriptors; a pass under way finishes its current chunk first. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#pollTimer);
    clearTimeout(this.#passTimer);
    this.#closeWatcher();
    await this.#running;
    await this.#release();
  }

  /** The pool shares its global rate out as followers come and go. */
  setRate(bytesPerSecond: number): void {
    this.#rate.setRate(bytesPerSecond);
  }

  /** Look now: for an owner that knows the log changed (a drained pty, a flushed writer). */
  poke(): void {
    this.#kick();
  }

  async #release(): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    await held?.handle.close().catch(() => undefined);
  }

  #kick(): void {
    if (this.#stopped || this.#passTimer !== undefined) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const wait = Math.max(0, this.#lastPassAt + this.#minGapMs - Date.now());
    this.#passTimer = setTimeout(() => {
      this.#passTimer = undefined;
      void this.#runPass();
    }, wait);
  }

  async #runPass(): Promise<void> {
    if (this.#stopped) return;
    this.#lastPassAt = Date.now();
    this.#again = false;
    this.#running = this.#pass().catch((err: Error) => this.#fail(this.#files[0]!, err));
    try {
      await this.#running;
    } finally {
      this.#running = undefined;
    }
    if (this.#again) this.#kick();
  }

  /** One look at the set: decide what is new, in order, then read it within the byte budget. */
  async #pass(): Promise<void> {
    const segments: Segment[] = [];
    const opened: OpenLog[] = [];
    try {
      const live = statName(this.#files[0]!);
      const held = this.#held;
      if (held && live && keyOf(live) === held.key) {
        // The name still names the held file, so its stat is the file's: no fstat round trip
        // through the thread pool on the path every follower takes every second.
        const { size } = live;
        if (size < held.position) {
          held.position = 0;
          this.#emit('reset', { offset: this.#offset, reason: 'truncated' });
        }
        if (size > held.position) segments.push({ log: held, to: size });
      } else if (held || live || this.#newBackup()) {
        await this.#advance(held, live !== undefined, segments, opened);
      }
      await this.#read(segments);
    } finally {
      // Complete files are closed once read; a stop mid-pass leaves none open either.
      for (const log of opened) if (log !== this.#held) await log.handle.close().catch(() => undefined);
    }
  }

  /**
   * The live name no longer names the held file (or there was none): read the held file to its
   * end, then what was rotated since and never read, then the new live file from 0.
   */
  async #advance(held: OpenLog | undefined, liveThere: boolean, segments: Segment[], opened: OpenLog[]): Promise<void> {
    // Once not live the held file gets no more writes (virtlogd and the Hyper-V writer rename
    // after their last write), so its size now is its final size.
    const heldStats = held ? await held.handle.stat() : undefined;
    // The live file is opened before the backups are looked at: a rotation between the two then
    // shows the new live file under a backup name, where it is recognised by its key, instead of
    // being missed between two looks.
    const next = liveThere ? await this.#open(this.#files[0]!) : undefined;
    if (next?.log) opened.push(next.log);
    const nextKey = next?.log?.key;
    const { backups, fresh } = await this.#openFresh(held?.key, nextKey);
    const heldIndex = held ? backups.findIndex((b) => b.key === held.key) : -1;

    if (held && heldStats) {
      opened.push(held);
      segments.push({ log: held, to: heldStats.size, complete: { file: backups[heldIndex]?.file } });
      // Deleted with no newer backup left: the set was wiped, not rotated.
      if (heldStats.nlink === 0 && fresh.length === 0) this.#wiped = true;
    }
    for (const { file, log, size } of fresh) {
      opened.push(log);
      // A file first seen as a backup is read whole: it came and went between two looks.
      segments.push({ log, to: size, complete: { file } });
      this.#wiped = false;
    }
    if (next?.log) {
      segments.push({ log: next.log, to: next.size, resetBefore: this.#wiped });
      this.#wiped = false;
    }
    this.#held = next?.log;
    // What is in the set now is accounted for, except files newer than the new held one (read
    // next time); names that left the set are forgotten, so memory stays bounded.
    const nextIndex = nextKey === undefined ? -1 : backups.findIndex((b) => b.key === nextKey);
    this.#seen = new Set([...backups.filter((_, i) => i >= nextIndex).map((b) => b.key), ...(nextKey ? [nextKey] : [])]);
  }

  /**
   * Opens the backups newer than the held file that were never read, oldest first. A rotation is
   * one rename at a time, so names move while they are opened: a name found empty, or naming
   * another file than the one looked at, means a rotation is under way; everything is looked at
   * again (as readLogWindow does) until one look holds, or the attempts run out.
   */
  async #openFresh(heldKey: string | undefined, nextKey: string | undefined): Promise<{ backups: Backup[]; fresh: { file: string; log: OpenLog; size: number }[] }> {
    for (let attempt = 1; ; attempt++) {
      const backups = this.#statBackups();
      const heldIndex = heldKey === undefined ? -1 : backups.findIndex((b) => b.key === heldKey);
      // The live file just opened may have been rotated already, and newer files after it: those
      // come after it in the stream, and are read once it is the held file.
      const nextIndex = nextKey === undefined ? -1 : backups.findIndex((b) => b.key === nextKey);
      const wanted = backups
        .filter((b, i) => !this.#seen.has(b.key) && i > nextIndex && (heldIndex === -1 || i < heldIndex))
        .reverse();
      const fresh: { file: string; log: OpenLog; size: number }[] = [];
      let moved = false;
      for (const backup of wanted) {
        const got = await this.#open(backup.file);
        if (got.log && got.log.key === backup.key) {
          fresh.push({ file: backup.file, log: got.log, size: got.size });
          continue;
        }
        await got.log?.handle.close().catch(() => undefined);
        // Refused or failing files are reported and passed over; a missing or changed name is a rotation under way.
        if (got.log || got.missing) {
          moved = true;
          break;
        }
      }
      if (!moved || attempt >= MAX_ATTEMPTS) return { backups, fresh };
      await Promise.all(fresh.map((f) => f.log.handle.close().catch(() => undefined)));
      await sleep(Math.min(attempt, 5));
    }
  }

  /** Reads the segments in order within the byte budget; over it, the oldest bytes are skipped and counted. */
  async #read(segments: Segment[]): Promise<void> {
    const pending = segments.reduce((sum, s) => sum + Math.max(0, s.to - s.log.position), 0);
    let skip = pending - this.#rate.take(pending);
    if (skip > 0) this.#emit('skipped', { offset: this.#offset, bytes: skip });
    for (const segment of segments) {
      const { log } = segment;
      if (segment.resetBefore) this.#emit('reset', { offset: this.#offset, reason: 'recreated' });
      const passed = Math.min(skip, Math.max(0, segment.to - log.position));
      skip -= passed;
      log.position += passed;
      this.#offset += passed;
      while (log.position < segment.to && !this.#stopped) {
        const length = Math.min(CHUNK_BYTES, segment.to - log.position);
        const buffer = Buffer.allocUnsafe(length);
        const { bytesRead } = await log.handle.read(buffer, 0, length, log.position);
        // Shorter than fstat said: truncated under us; the next pass sees the new size.
        if (bytesRead === 0) break;
        const info: ChunkInfo = { offset: this.#offset, file: log.file, position: log.position, key: log.key };
        log.position += bytesRead;
        this.#offset += bytesRead;
        this.#deliver(bytesRead === length ? buffer : buffer.subarray(0, bytesRead), info);
      }
      if (this.#stopped) return;
      if (segment.complete) this.#emit('rotated', { file: segment.complete.file, endOffset: this.#offset });
    }
  }

  #deliver(chunk: Buffer, info: ChunkInfo): void {
    try {
      this.#onChunk(chunk, info);
    } catch (error) {
      this.#emit('consumer_failed', { offset: info.offset, error });
    }
  }

  /** Opens one file of the set under the roots; no log when it is missing, refused or failing (the last two reported once). */
  async #open(file: string): Promise<{ log?: OpenLog; size: number; missing?: boolean }> {
    try {
      const confined = await openConfined(file, await resolveRoots(this.#roots));
      if (!confined) return { size: 0, missing: true };
      this.#forget(file);
      const { handle, stats } = confined;
      return { log: { file, handle, key: keyOf(stats), position: 0 }, size: stats.size };
    } catch (err) {
      if (isVmconsoleError(err) && err.code === 'Forbidden') {
        this.#once(`refused ${file} ${err.detail}`, () => this.#emit('refused', { file, detail: err.detail ?? err.message }));
      } else {
        this.#fail(file, err as Error);
      }
      return { size: 0 };
    }
  }

  /**
   * No live file and none held: a file may still have been created and rotated between two looks
   * (the last words of a guest that then stopped). Every rotation puts it under the newest backup
   * name, so one stat tells.
   */
  #newBackup(): boolean {
    const newest = this.#files[1] === undefined ? undefined : statName(this.#files[1]);
    return newest !== undefined && !this.#seen.has(keyOf(newest));
  }

  /** The backups there now, newest first, with their index in the set. Gaps are passed over: virtlogd renames one file at a time. */
  #statBackups(): Backup[] {
    const found: Backup[] = [];
    for (const file of this.#files.slice(1)) {
      const st = statName(file);
      if (st) found.push({ file, key: keyOf(st) });
    }
    return found;
  }

  /**
   * inotify on the directory while it can be had, re-established when the directory is replaced
   * (a deleted directory's watch goes quiet without an error); polling all the while.
   */
  #ensureWatch(): void {
    if (!this.#watchWanted) {
      this.#setMode('poll', 'watching is turned off');
      return;
    }
    const dir = statName(this.#dir);
    const key = dir && dir.isDirectory() ? keyOf(dir) : undefined;
    if (this.#watcher && key === this.#watchedDir) return;
    this.#closeWatcher();
    if (key === undefined) {
      this.#setMode('poll', `${this.#dir} does not exist (yet)`);
      return;
    }
    try {
      // Persistent, like the poll timer: a process following a console stays up until stop().
      const watcher = watch(this.#dir, { persistent: true }, (_event, name) => {
        if (name === null || this.#names.has(name)) this.#kick();
      });
      watcher.on('error', (err) => {
        if (this.#watcher !== watcher) return;
        this.#closeWatcher();
        this.#setMode('poll', `watching ${this.#dir} failed: ${err.message}`);
      });
      this.#watcher = watcher;
      this.#watchedDir = key;
      this.#setMode('watch', `inotify on ${this.#dir}`);
    } catch (err) {
      this.#setMode('poll', `cannot watch ${this.#dir}: ${(err as Error).message}`);
    }
  }

  #closeWatcher(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watchedDir = undefined;
  }

  #setMode(mode: 'watch' | 'poll', reason: string): void {
    if (this.#mode === mode) return;
    this.#mode = mode;
    this.#emit('mode', { mode, reason });
  }

  #fail(file: string, error: Error): void {
    this.#once(`failed ${file} ${error.message}`, () => this.#emit('failed', { file, error }));
  }

  #once(key: string, report: () => void): void {
    if (this.#reported.has(key)) return;
    // Errors whose text keeps changing must not grow the set without end: start afresh (a repeat, at worst).
    if (this.#reported.size >= 64) this.#reported.clear();
    this.#reported.add(key);
    report();
  }

  /** A file opened again may be refused or fail again later: say it again then. */
  #forget(file: string): void {
    for (const key of this.#reported) if (key.includes(` ${file} `)) this.#reported.delete(key);
  }

  #emit<E extends keyof FollowerEvents>(event: E, payload: FollowerEvents[E]): void {
    try {
      this.#observer[event]?.(payload);
    } catch {
      // The observer's bug must not stop the follower.
    }
  }
}

/** stat by name, following links as an open would; undefined when missing or when the file system will not say. */
function statName(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}
