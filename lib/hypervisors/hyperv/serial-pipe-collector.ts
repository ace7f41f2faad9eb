import { connect, type Socket } from 'node:net';
import type { Logger } from '../../logger.ts';
import type { CappedLogWriter } from './capped-log-writer.ts';

/** os-win's SERIAL_CONSOLE_BUFFER_SIZE: the pipe is read 4 KiB at a time into one reused buffer. */
export const PIPE_READ_BYTES = 4 * 1024;

export interface Backoff {
  /** First wait after a failed connect or a closed pipe. */
  initialMs: number;
  /** The wait doubles up to this: a VM that stays off costs one connect attempt per maxMs. */
  maxMs: number;
}

/**
 * A stopped VM's collector waits for its pipe too (the driver keeps one armed per VM with a
 * pipe): Hyper-V drops what a guest prints while no client holds the pipe, so the cap is how
 * much early boot output a VM starting between two listings can lose. One attempt per second
 * per stopped VM is a failed open of a name that does not exist.
 */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 50, maxMs: 1_000 };

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
 * is said once in the agent's log, not at every attempt. When the writer is above its
 * high-water mark the socket is paused: the flood waits in the pipe, not in memory.
 *
 * Bytes are handed to the writer the moment the read completes, so nothing the pipe delivered
 * is lost across a reconnect, and nothing is read twice (a pipe has no replay).
 */
export class SerialPipeCollector {
  readonly pipePath: string;
  readonly #writer: CappedLogWriter;
  readonly #logger: Logger;
  readonly #label: string;
  readonly #backoff: Backoff;
  readonly #buffer = Buffer.allocUnsafe(PIPE_READ_BYTES);
  #socket: Socket | undefined;
  #timer: NodeJS.Timeout | undefined;
  #waitMs: number;
  #failedAttempts = 0;
  #stopped = false;
  #failure: Error | undefined;
  /** Connections made so far (the first one included). */
  connections = 0;
  /**
   * Whether the VM is running, so its pipe should be there: its absence is then said in the log
   * (once per absence); for a stopped VM it is expected and said only at debug level.
   */
  pipeExpected = true;

  constructor(options: SerialPipeCollectorOptions) {
    this.pipePath = options.pipePath;
    this.#writer = options.writer;
    this.#logger = options.logger;
    this.#label = options.label;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#waitMs = this.#backoff.initialMs;
  }

  get writer(): CappedLogWriter {
    return this.#writer;
  }

  get connected(): boolean {
    return this.#socket !== undefined && !this.#socket.connecting && !this.#socket.destroyed;
  }

  /** Set when the log can no longer be written: the collector has stopped reading; the driver replaces it. */
  get failure(): Error | undefined {
    return this.#failure;
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
    await this.#writer.close();
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#stopped) return;
    let opened = false;
    const socket: Socket = connect({
      path: this.pipePath,
      onread: {
        buffer: this.#buffer,
        callback: (bytes: number, buffer: Uint8Array): boolean => this.#onRead(socket, bytes, buffer),
      },
    });
    this.#socket = socket;
    socket.on('connect', () => {
      opened = true;
      this.connections++;
      if (this.#failedAttempts > 0) this.#logger.info('console pipe connected', { vm: this.#label, afterFailedAttempts: this.#failedAttempts });
      this.#failedAttempts = 0;
      this.#waitMs = this.#backoff.initialMs;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (opened || this.#stopped) return; // a broken pipe: 'close' follows and reconnects
      this.#failedAttempts++;
      // Once per absence: a VM that is starting, or whose pipe Hyper-V has not made yet, would
      // otherwise log at every attempt.
      if (this.#failedAttempts === 1) {
        const data = { vm: this.#label, code: err.code, maxWaitMs: this.#backoff.maxMs };
        if (this.pipeExpected) this.#logger.info('console pipe not available yet; retrying with backoff', data);
        else this.#logger.debug('console pipe absent while the VM is not running; waiting for it', data);
      }
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
      if (this.#stopped || this.#failure) return;
      if (opened) this.#logger.info('console pipe closed; reconnecting', { vm: this.#label });
      const wait = opened ? this.#backoff.initialMs : this.#waitMs;
      if (!opened) this.#waitMs = Math.min(this.#waitMs * 2, this.#backoff.maxMs);
      this.#timer = setTimeout(() => this.#connect(), wait);
    });
  }

  /** Called for every read into the shared buffer: copy it out (the buffer is reused) and queue it. */
  #onRead(socket: Socket, bytes: number, buffer: Uint8Array): boolean {
    if (this.#stopped || bytes <= 0) return true;
    let more: boolean;
    try {
      more = this.#writer.write(Buffer.from(buffer.subarray(0, bytes)));
    } catch (err) {
      this.#failure = err as Error;
      this.#logger.error('console log cannot be written; collector stopped', { vm: this.#label, error: (err as Error).message });
      socket.destroy();
      return false;
    }
    if (more) return true;
    // Returning false pauses the socket; the writer says when its queue is low again.
    this.#writer.onDrain(() => {
      if (!socket.destroyed) socket.resume();
    });
    return false;
  }
}
