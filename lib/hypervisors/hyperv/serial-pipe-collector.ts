import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from '../../logger.ts';
import type { CappedLogWriter } from './capped-log-writer.ts';

/** os-win's SERIAL_CONSOLE_BUFFER_SIZE: the pipe is read 4 KiB at a time into one reused buffer. */
export const PIPE_READ_BYTES = 4 * 1024;

export interface Backoff {
  /** First wait after a failed connect or a closed pipe. */
  initialMs: number;
  /** The wait doubles up to this while the VM runs (its pipe should be there). */
  maxMs: number;
  /**
   * The wait between attempts while the VM is known not to run (default 5 s): a host with 1,000
   * stopped VMs then makes 200 failed opens a second, not 1,000. A listing that sees the VM run
   * cuts the wait short (pipeExpected), so this only bounds how late a VM started between two
   * listings is collected.
   */
  idleMs?: number;
}

/**
 * A stopped VM's collector waits for its pipe too (the driver keeps one armed per VM with a
 * pipe): Hyper-V drops what a guest prints while no client holds the pipe, so the idle wait is
 * how much early boot output a VM starting between two listings can lose (firmware and boot
 * loader take seconds before a kernel prints).
 */
export const DEFAULT_BACKOFF: Required<Backoff> = { initialMs: 50, maxMs: 1_000, idleMs: 5_000 };

export interface SerialPipeCollectorOptions {
  /** What to connect to: `\\.\pipe\<uuid>_ro` on Windows, a Unix socket in tests. */
  pipePath: string;
  writer: CappedLogWriter;
  logger: Logger;
  /** How the VM is named in the agent's log. */
  label: string;
  backoff?: Backoff;
}

/**
 * One running VM's serial port pipe, read continuously into its console log whether or not
 * anyone asks for it (Nova's named pipe handler). It connects, reads 4 KiB at a time, hands
 * each read to the writer in order, and when the pipe closes (VM restarted, pipe broken) or is
 * not there yet (VM starting) it tries again with a doubling, capped wait. A pipe that stays away
 * is said once in the agent's log, not at every attempt; so is one that takes the connection and
 * closes it before a byte came (it counts as a failed attempt). When the writer is above its
 * high-water mark, or the writers' shared budget is spent, the socket is paused: the flood waits
 * in the pipe, not in memory.
 *
 * Bytes are handed to the writer the moment the read completes, so nothing the pipe delivered
 * is lost across a reconnect, and nothing is read twice (a pipe has no replay). Only a log that
 * cannot be written loses bytes: the writer drops them, counts them and the loss is logged.
 */
export class SerialPipeCollector {
  readonly pipePath: string;
  readonly #writer: CappedLogWriter;
  readonly #logger: Logger;
  readonly #label: string;
  readonly #backoff: Required<Backoff>;
  readonly #buffer = Buffer.allocUnsafe(PIPE_READ_BYTES);
  #socket: Socket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #waitMs: number;
  #failedAttempts = 0;
  #stopped = false;
  #pipeExpected = true;
  /** Serial consoles sharing this connection (share()). */
  readonly #shares = new Set<Duplex>();
  /** Connections made so far (the first one included). */
  connections = 0;
  /** Connect attempts made so far, failed ones included. */
  attempts = 0;

  constructor(options: SerialPipeCollectorOptions) {
    this.pipePath = options.pipePath;
    this.#writer = options.writer;
    this.#logger = options.logger;
    this.#label = options.label;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#waitMs = this.#backoff.initialMs;
    this.#writer.onStateChange((change) => {
      const vm = this.#label;
      switch (change.type) {
        case 'failed':
          return this.#logger.error('console log cannot be written; dropping this VM\'s output until it can', { vm, error: change.error.message, retryMs: change.retryMs });
        case 'recovered':
          return this.#logger.warn('console log writable again; output was dropped meanwhile', { vm, droppedBytes: change.droppedBytes });
        case 'rotation-failed':
          return this.#logger.warn('console log cannot be rotated; appending past its cap until it can', { vm, error: change.error.message, retryMs: change.retryMs });
        case 'rotated-again':
          return this.#logger.info('console log rotated again', { vm });
      }
    });
  }

  /**
   * Whether the VM is running, so its pipe should be there: its absence is then said in the log
   * (once per absence) and retried with the doubling wait; for a stopped VM it is expected, said
   * only at debug level, and retried every idleMs. Set true while waiting (a listing saw the VM
   * start), the collector connects at once.
   */
  get pipeExpected(): boolean {
    return this.#pipeExpected;
  }

  set pipeExpected(expected: boolean) {
    const started = expected && !this.#pipeExpected;
    this.#pipeExpected = expected;
    if (started && this.#timer && !this.#stopped) {
      clearTimeout(this.#timer);
      this.#waitMs = this.#backoff.initialMs;
      this.#failedAttempts = 0; // a running VM's pipe still absent is worth saying again
      this.#connect();
    }
  }

  get writer(): CappedLogWriter {
    return this.#writer;
  }

  get connected(): boolean {
    return this.#socket !== undefined && !this.#socket.connecting && !this.#socket.destroyed;
  }

  /**
   * A second client on this collector's own connection, for a pipe that serves one client (the
   * `rw` pipe, logged when a VM has no `ro` one): it reads every byte the log is handed, in the
   * same order, and what is written to it goes to the pipe. It emits 'connect' when the
   * collector is connected now, else fails at once, and it ends with that connection (its user
   * opens another share once the collector has reconnected). Destroying it leaves the collector
   * and its log untouched.
   */
  share(): Duplex {
    const socket = this.connected ? this.#socket : undefined;
    const share = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _encoding, done) => {
        if (!socket || socket.destroyed) done(new Error('the console pipe closed'));
        else socket.write(chunk, done);
      },
    });
    if (!socket) {
      process.nextTick(() => share.destroy(new Error('the console pipe is not connected')));
      return share;
    }
    this.#shares.add(share);
    share.once('close', () => this.#shares.delete(share));
    process.nextTick(() => {
      if (!share.destroyed) share.emit('connect');
    });
    return share;
  }

  start(): void {
    if (this.#stopped || this.#socket || this.#timer) return;
    this.#connect();
  }

  /** Stops reading and closes the log once what was read is written. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#socket?.destroy();
    this.#socket = undefined;
    this.#endShares();
    await this.#writer.close();
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    let opened = false;
    /** Whether this connection delivered a byte: until then it does not count as working. */
    let delivered = false;
    this.attempts++;
    const socket: Socket = connect({
      path: this.pipePath,
      onread: {
        buffer: this.#buffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => {
          if (!delivered && bytes > 0) {
            delivered = true;
            this.#working();
          }
          return this.#onRead(socket, bytes, buffer);
        },
      },
    });
    this.#socket = socket;
    socket.on('connect', () => {
      opened = true;
      this.connections++;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (opened || this.#stopped) return; // a broken pipe: 'close' follows and reconnects
      this.#failedAttempts++;
      // Once per absence: a VM that is starting, or whose pipe Hyper-V has not made yet, would
      // otherwise log at every attempt.
      if (this.#failedAttempts === 1) {
        const data = { vm: this.#label, code: err.code, maxWaitMs: this.#pipeExpected ? this.#backoff.maxMs : this.#backoff.idleMs };
        if (this.#pipeExpected) this.#logger.info('console pipe not available yet; retrying with backoff', data);
        else this.#logger.debug('console pipe absent while the VM is not running; waiting for it', data);
      }
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      this.#endShares();
      if (this.#stopped) return;
      let wait = this.#backoff.initialMs;
      if (delivered) {
        this.#logger.info('console pipe closed; reconnecting', { vm: this.#label });
      } else {
        // Taken and closed before a byte came (a pipe that breaks at once, or turns clients
        // away): a failed attempt like an absent pipe, or it would be a reconnect and a log
        // line every initialMs.
        if (opened && ++this.#failedAttempts === 1) {
          this.#logger.info('console pipe closed before sending anything; retrying with backoff', { vm: this.#label, maxWaitMs: this.#backoff.maxMs });
        }
        wait = this.#pipeExpected ? this.#waitMs : this.#backoff.idleMs;
        this.#waitMs = Math.min(this.#waitMs * 2, this.#backoff.maxMs);
      }
      this.#timer = setTimeout(() => this.#connect(), wait);
    });
  }

  #endShares(): void {
    for (const share of this.#shares) share.destroy();
    this.#shares.clear();
  }

  /** A connection delivered its first byte: the pipe works, the backoff starts over. */
  #working(): void {
    if (this.#failedAttempts > 0) this.#logger.info('console pipe connected', { vm: this.#label, afterFailedAttempts: this.#failedAttempts });
    this.#failedAttempts = 0;
    this.#waitMs = this.#backoff.initialMs;
  }

  /** Called for every read into the shared buffer: copy it out (the buffer is reused) and queue it. */
  #onRead(socket: Socket, bytes: number, buffer: Uint8Array): boolean {
    if (this.#stopped || bytes <= 0) return true;
    // A log that cannot be written drops the bytes and says so (the writer's state change): the
    // pipe keeps being read, so the guest never waits for the disk.
    const chunk = Buffer.from(buffer.subarray(0, bytes));
    // The log first: a console viewer sees what the log has been handed, never more.
    const below = this.#writer.write(chunk);
    for (const share of this.#shares) share.push(chunk);
    if (below) return true;
    // Returning false pauses the socket; the writer says when its queue is low again.
    this.#writer.onDrain(() => {
      if (!socket.destroyed) socket.resume();
    });
    return false;
  }
}
