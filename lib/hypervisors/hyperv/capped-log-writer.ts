import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { hypervRotation, type RotatedLog } from '../../console/rotated-log.ts';

/** os-win's MAX_CONSOLE_LOG_FILE_SIZE: a console log is rotated before it would reach 512 KiB. */
export const DEFAULT_LOG_CAP_BYTES = 512 * 1024;
/**
 * Bytes waiting for the disk before the collector is told to pause its pipe: a guest flooding
 * faster than the disk then waits in the pipe (Hyper-V's buffer, then the guest's UART), not in
 * the agent's memory. A read flushes what is queued first, so this is also what a read may
 * wait for: 256 KiB kept a flooded read's p50 at 2.3 ms against 5.6 ms with 1 MiB, for 70
 * instead of 85 MiB/s of collector throughput (npm run bench -- hyperv), far above what a serial
 * console prints.
 */
export const DEFAULT_HIGH_WATER_BYTES = 256 * 1024;
/**
 * After a failed write (disk full, permissions, a directory planted as the log), output is
 * dropped for this long before the disk is tried again: no memory grows, the guest is never made
 * to wait, and a disk that stays full costs one failed write per VM per interval.
 */
export const DEFAULT_RETRY_MS = 5_000;
/**
 * Bytes queued across all of one agent's writers (Collectors shares one budget): each VM's
 * high-water mark alone would let 1,000 flooding VMs over a slow disk hold 256 MiB. Once it is
 * spent, every writer asks its pipe to pause until it is half free.
 */
export const DEFAULT_QUEUE_BUDGET_BYTES = 16 * 1024 * 1024;

/** Queued bytes shared by many writers (one per VM), with the writers waiting for it to drain. */
export class QueueBudget {
  readonly limit: number;
  #used = 0;
  #waiting: (() => void)[] = [];

  constructor(limit = DEFAULT_QUEUE_BUDGET_BYTES) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  get spent(): boolean {
    return this.#used >= this.limit;
  }

  take(bytes: number): void {
    this.#used += bytes;
  }

  give(bytes: number): void {
    this.#used -= bytes;
    if (this.#waiting.length > 0 && this.#low) {
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const resume of waiting) resume();
    }
  }

  /** Calls `resume` once under half of the budget is used. */
  whenLow(resume: () => void): void {
    if (this.#low) resume();
    else this.#waiting.push(resume);
  }

  get #low(): boolean {
    return this.#used < this.limit / 2;
  }
}

/** One write call takes at most this much of the queue, so a read waiting for the lock waits for one write, not a flood. */
const MAX_BATCH_BYTES = 256 * 1024;

// O_APPEND: every write lands at the end whatever else appends. O_NOFOLLOW/O_NONBLOCK/O_NOCTTY:
// the instance directory is writable by the hypervisor's side; never follow a link planted as
// console.log, never block on a FIFO, never adopt a terminal. (Windows has none of the three:
// they are undefined there and drop out of the mask.)
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Appends one VM's serial output to `<dir>/console.log` and rotates it to `console.log.1` (one
 * backup, replaced, as os-win does) before the live file would reach `capBytes`. os-win checks the
 * cap per 4 KiB read; here the cut is at the byte, so every rotated file holds exactly
 * `capBytes - 1` bytes whatever chunks the pipe delivered: the boundary depends on the stream
 * alone, and a test can predict it.
 *
 * Writes are queued and written in order by one loop; `write` says when the queue is above its
 * high-water mark (the caller pauses its source until 'drain'). Reading goes through `whileHeld`:
 * it waits until everything written before the call is on disk (the flush Nova forgot), then runs
 * the read while no write or rotation can happen, so the two files are one moment.
 *
 * A rotation that fails leaves the live file growing past the cap until one works (nothing is
 * dropped for it). A failed write does not stop the writer: what was queued is dropped (counted), the file is
 * closed, output is dropped for `retryMs`, then the next write opens the file afresh and tries
 * again. `onStateChange` hears the failure once per streak and the recovery with what was lost;
 * reads keep serving what is on disk meanwhile.
 */
export class CappedLogWriter {
  readonly rotation: RotatedLog;
  readonly #path: string;
  readonly #cap: number;
  readonly #highWater: number;
  #queue: Buffer[] = [];
  #queued = 0;
  #peakQueued = 0;
  #accepted = 0;
  #written = 0;
  #file: FileHandle | undefined;
  #size = 0;
  #lock: Promise<void> = Promise.resolve();
  #pumping: Promise<void> | undefined;
  #failure: Error | undefined;
  #retryAt = 0;
  #rotateRetryAt = 0;
  #rotationFailing = false;
  #dropped = 0;
  #droppedInStreak = 0;
  #listener: ((change: WriterStateChange) => void) | undefined;
  readonly #retryMs: number;
  readonly #budget: QueueBudget | undefined;
  #closed = false;
  #drainWaiters: (() => void)[] = [];
  #flushWaiters: { upTo: number; resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(path: string, options: { capBytes?: number; highWaterBytes?: number; retryMs?: number; budget?: QueueBudget } = {}) {
    this.#path = path;
    this.#budget = options.budget;
    this.#retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    this.#cap = options.capBytes ?? DEFAULT_LOG_CAP_BYTES;
    this.#highWater = options.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES;
    if (!Number.isSafeInteger(this.#cap) || this.#cap < 2) throw new RangeError(`log cap must be an integer of at least 2 bytes, got ${this.#cap}`);
    this.rotation = hypervRotation(path);
  }

  /** Bytes accepted so far (for tests and the bench: what the collector handed over). */
  get accepted(): number {
    return this.#accepted;
  }

  /** Bytes accepted but not yet written, now and at most so far: what a flood costs in memory. */
  get queuedBytes(): number {
    return this.#queued;
  }

  get peakQueuedBytes(): number {
    return this.#peakQueued;
  }

  /** Why the log cannot be written now (undefined once a write works again). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Bytes accepted but never written because the log could not be written. */
  get droppedBytes(): number {
    return this.#dropped;
  }

  /** The one listener told when writing starts failing (once per streak) and when it works again. */
  onStateChange(listener: (change: WriterStateChange) => void): void {
    this.#listener = listener;
  }

  /**
   * Queues `bytes` (the writer keeps the buffer: the caller must not reuse it). False when the
   * queue is above the high-water mark: pause the source until `onDrain`.
   */
  write(bytes: Buffer): boolean {
    if (this.#closed) throw new Error('console log writer is closed');
    if (this.#failure && performance.now() < this.#retryAt) {
      this.#accepted += bytes.length;
      this.#drop(bytes.length);
      return true;
    }
    if (bytes.length > 0) {
      this.#queue.push(bytes);
      this.#queued += bytes.length;
      this.#budget?.take(bytes.length);
      this.#accepted += bytes.length;
      this.#peakQueued = Math.max(this.#peakQueued, this.#queued);
      this.#pump();
    }
    return this.#queued < this.#highWater && !this.#budget?.spent;
  }

  /** Calls `resolve` once the queue is back under half the high-water mark, and the shared budget under half. */
  onDrain(resolve: () => void): void {
    const check = () => {
      if (this.#queued >= this.#highWater / 2) this.#drainWaiters.push(check);
      else if (this.#budget) this.#budget.whenLow(resolve);
      else resolve();
    };
    check();
  }

  /**
   * Resolves when every byte accepted before the call is written to the file; rejects with the
   * failure when the log cannot be written (those bytes are dropped).
   */
  flush(): Promise<void> {
    const upTo = this.#accepted;
    // Bytes on their way (a retry after a failure among them) are waited for, not given up on.
    if (this.#settled >= upTo) return this.#failure ? Promise.reject(this.#failure) : Promise.resolve();
    return new Promise((resolve, reject) => this.#flushWaiters.push({ upTo, resolve, reject }));
  }

  /**
   * Flushes, then runs `read` with writes and rotation held off until it settles. What was
   * accepted before the call is in the files `read` sees (unless it could not be written: the
   * read then serves what is on disk); nothing moves under it.
   */
  async whileHeld<T>(read: () => Promise<T>): Promise<T> {
    await this.flush().catch(() => undefined);
    return this.#exclusive(read);
  }

  /** Writes what is queued, then closes the file. Further writes throw. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush().catch(() => undefined);
    } finally {
      this.#closed = true;
      await this.#exclusive(async () => {
        await this.#file?.close().catch(() => undefined);
        this.#file = undefined;
      });
    }
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(task);
    this.#lock = run.then(() => undefined, () => undefined);
    return run;
  }

  #pump(): void {
    this.#pumping ??= (async () => {
      try {
        while (this.#queue.length > 0) await this.#exclusive(() => this.#writeBatch());
      } catch (err) {
        this.#fail(err as Error);
      } finally {
        this.#pumping = undefined;
      }
    })();
  }

  /** Takes up to MAX_BATCH_BYTES off the queue and writes it, rotating where the cap falls inside it. */
  async #writeBatch(): Promise<void> {
    const batch: Buffer[] = [];
    let length = 0;
    while (this.#queue.length > 0 && length < MAX_BATCH_BYTES) {
      const next = this.#queue.shift()!;
      batch.push(next);
      length += next.length;
    }
    let bytes = batch.length === 1 ? batch[0]! : Buffer.concat(batch, length);
    try {
      await this.#writeOut(bytes);
    } catch (err) {
      // Reopened (and its size read again) at the next attempt.
      await this.#file?.close().catch(() => undefined);
      this.#file = undefined;
      throw err;
    }
    if (this.#failure) this.#recover();
  }

  async #writeOut(bytes: Buffer): Promise<void> {
    let rotationFailed = false;
    while (bytes.length > 0) {
      const file = await this.#open();
      // Room left before the file would reach the cap; none left means rotate first.
      let room = this.#cap - 1 - this.#size;
      if (room <= 0 && !rotationFailed && performance.now() >= this.#rotateRetryAt) {
        rotationFailed = !(await this.#tryRotating());
        continue; // into the new file, or the old one reopened
      }
      // A rotation that failed: past the cap rather than dropping output, until one works.
      if (room <= 0) room = bytes.length;
      const part = bytes.length <= room ? bytes : bytes.subarray(0, room);
      await writeAll(file, part);
      this.#size += part.length;
      bytes = bytes.subarray(part.length);
      this.#written += part.length;
      this.#queued -= part.length;
      this.#budget?.give(part.length);
      this.#settle();
    }
  }

  async #open(): Promise<FileHandle> {
    if (this.#file) return this.#file;
    await mkdir(dirname(this.#path), { recursive: true });
    const file = await open(this.#path, APPEND_FLAGS, 0o640);
    try {
      const stats = await file.stat();
      if (!stats.isFile()) throw new Error(`${this.#path} is not a regular file`);
      // Nova appends across VM restarts and agent restarts alike: continue the file that is there.
      this.#size = stats.size;
    } catch (err) {
      await file.close();
      throw err;
    }
    this.#file = file;
    return file;
  }

  async #rotate(): Promise<void> {
    await this.#file?.close();
    this.#file = undefined;
    await this.rotation.rotate();
    this.#size = 0;
  }

  /**
   * Rotates; when that fails (on Windows, renaming fails while another program holds
   * console.log open without sharing delete), says so once and lets
   * the caller append past the cap until a rotation works, tried again after retryMs.
   */
  async #tryRotating(): Promise<boolean> {
    try {
      await this.#rotate();
    } catch (err) {
      this.#rotateRetryAt = performance.now() + this.#retryMs;
      if (!this.#rotationFailing) {
        this.#rotationFailing = true;
        const error = new Error(`rotating console log ${this.#path} failed: ${(err as Error).message}`, { cause: err });
        this.#listener?.({ type: 'rotation-failed', error, retryMs: this.#retryMs });
      }
      return false;
    }
    if (this.#rotationFailing) {
      this.#rotationFailing = false;
      this.#listener?.({ type: 'rotated-again' });
    }
    return true;
  }

  /** Bytes accepted that are done with: written, or dropped because they could not be. */
  get #settled(): number {
    return this.#written + this.#dropped;
  }

  #settle(): void {
    this.#flushWaiters = this.#flushWaiters.filter((w) => {
      if (this.#settled < w.upTo) return true;
      w.resolve();
      return false;
    });
    if (this.#queued < this.#highWater / 2 && this.#drainWaiters.length > 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  #fail(err: Error): void {
    const first = this.#failure === undefined;
    const failure = new Error(`writing console log ${this.#path} failed: ${err.message}`, { cause: err });
    this.#failure = failure;
    this.#retryAt = performance.now() + this.#retryMs;
    this.#queue = [];
    this.#drop(this.#queued);
    this.#budget?.give(this.#queued);
    this.#queued = 0;
    for (const w of this.#flushWaiters) w.reject(failure);
    this.#flushWaiters = [];
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
    if (first) this.#listener?.({ type: 'failed', error: failure, retryMs: this.#retryMs });
  }

  #drop(bytes: number): void {
    this.#dropped += bytes;
    this.#droppedInStreak += bytes;
  }

  #recover(): void {
    const droppedBytes = this.#droppedInStreak;
    this.#failure = undefined;
    this.#droppedInStreak = 0;
    this.#listener?.({ type: 'recovered', droppedBytes });
  }
}

export type WriterStateChange =
  | { type: 'failed'; error: Error; retryMs: number }
  | { type: 'recovered'; droppedBytes: number }
  | { type: 'rotation-failed'; error: Error; retryMs: number }
  | { type: 'rotated-again' };

async function writeAll(file: FileHandle, bytes: Buffer): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}
