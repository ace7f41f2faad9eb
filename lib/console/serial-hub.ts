import { connect } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * One TCP connection per serial console, shared by every viewer of it. QEMU's TCP serial chardev
 * serves one client at a time (a second waits in the kernel's backlog, Nova's "serial console
 * access is blocking"), so the agent is that one client and fans the guest's output out:
 *
 * - Output: every chunk goes to every viewer as it arrives, after a replay of the most recent
 *   output (the last `replayBytes`) for a viewer that joins late. The chardev is read
 *   continuously: a viewer whose tunnel holds more than `viewerCapBytes` unsent is dropped, never
 *   waited for, so a slow viewer cannot stall the guest's UART or virtlogd's log of it.
 * - Input: every viewer writes (as with Nova, where whoever holds the console types). Bytes go to
 *   the chardev in arrival order; a viewer whose input QEMU has not taken yet (more than
 *   `inputCapBytes` queued) is asked to pause and told when to resume. Keystrokes sent while the
 *   chardev is down are lost, as on a real serial line.
 * - The chardev drops (guest restarted, QEMU restarted): the hub connects again, after asking
 *   `verify` whether the address is still this console's (a port freed by one guest can be bound
 *   by another), and gives up after `giveUpMs` without it, dropping its viewers.
 * - The last viewer leaves: the connection is closed `lingerMs` later (a page reload keeps it),
 *   and QEMU is back to logging through virtlogd alone, which it does with or without a client
 *   (QEMU >= 5.2; 5.1 lost output while no client was connected, LP#1893691).
 */
export interface SerialViewer {
  /** Output of the guest, replay first. */
  send(chunk: Buffer): void;
  /** Bytes handed to this viewer and not yet written out (its tunnel's buffer). */
  buffered(): number;
  /** The hub let go of this viewer (too slow, console gone, hub stopped): end its session. */
  drop(reason: string): void;
  /** Input the hub had asked this viewer to hold back can flow again. */
  resumeInput(): void;
}

/** A viewer's handle on the hub. */
export interface SerialAttachment {
  /** Input for the guest; false asks the viewer to pause until resumeInput(). */
  write(bytes: Buffer): boolean;
  /** Leave the hub (idempotent). */
  detach(): void;
}

export interface SerialTarget {
  /** The hub's identity: one hub per key (server and port). */
  key: string;
  host: string;
  port: number;
  /**
   * How to reach the console when it is not a TCP chardev at host:port (Hyper-V: the VM's COM
   * pipe, or a share of the log collector's connection to it): a stream that emits 'connect' once
   * usable, or 'error' and 'close' when not. Called again at every reconnect.
   */
  open?: () => Duplex;
  /** Asked before connecting again after a drop: is host:port still this console's? */
  verify(): Promise<boolean>;
}

export interface SerialHubOptions {
  /** What happens to the hubs, for the agent's log; it must return quickly and never throw. */
  onEvent?: (event: SerialHubEvent) => void;
  replayBytes?: number;
  viewerCapBytes?: number;
  inputCapBytes?: number;
  lingerMs?: number;
  connectTimeoutMs?: number;
  giveUpMs?: number;
}

export type SerialHubEvent =
  | { type: 'chardev_connected'; key: string; viewers: number }
  | { type: 'chardev_lost'; key: string; viewers: number; error: string | undefined }
  | { type: 'chardev_closed'; key: string }
  | { type: 'viewer_dropped'; key: string; reason: string; buffered: number };

const DEFAULTS: Required<SerialHubOptions> = {
  onEvent: () => undefined,
  replayBytes: 64 * 1024,
  viewerCapBytes: 256 * 1024,
  inputCapBytes: 64 * 1024,
  lingerMs: 5_000,
  connectTimeoutMs: 5_000,
  giveUpMs: 30_000,
};
const RECONNECT_DELAYS_MS = [100, 250, 500, 1_000, 2_000];

/** The most recent output, at most `cap` bytes: what a viewer joining late sees first. */
class ReplayRing {
  readonly #cap: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  constructor(cap: number) {
    this.#cap = cap;
  }
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes > this.#cap) {
      const head = this.#chunks[0]!;
      const excess = this.#bytes - this.#cap;
      if (head.length <= excess) {
        this.#chunks.shift();
        this.#bytes -= head.length;
      } else {
        // A copy, so the ring never pins a large chunk it keeps only the tail of.
        this.#chunks[0] = Buffer.from(head.subarray(excess));
        this.#bytes -= excess;
      }
    }
  }
  contents(): Buffer {
    return Buffer.concat(this.#chunks, this.#bytes);
  }
}

/** Every serial console the agent holds, by key. */
export class SerialHubs {
  readonly #options: Required<SerialHubOptions>;
  readonly #hubs = new Map<string, Hub>();

  constructor(options: SerialHubOptions = {}) {
    this.#options = { ...DEFAULTS, ...options };
  }

  /** Viewers attached now, per console key: for logs and tests. */
  viewers(): Map<string, number> {
    return new Map([...this.#hubs].map(([key, hub]) => [key, hub.viewerCount]));
  }

  /**
   * Attach a viewer to the console at `target`, connecting to the chardev first when no other
   * viewer holds it. Resolves once the chardev is connected (the replay already sent), rejects
   * when it cannot be reached, leaving nothing attached.
   */
  async attach(target: SerialTarget, viewer: SerialViewer): Promise<SerialAttachment> {
    let hub = this.#hubs.get(target.key);
    if (!hub) {
      const created: Hub = new Hub(target, this.#options, () => {
        if (this.#hubs.get(target.key) === created) this.#hubs.delete(target.key);
      });
      hub = created;
      this.#hubs.set(target.key, hub);
    }
    return hub.attach(viewer);
  }

  /** Drops every viewer and closes every chardev connection (agent shutdown). */
  stop(): void {
    for (const hub of [...this.#hubs.values()]) hub.close('the agent is stopping');
  }
}

class Hub {
  readonly #target: SerialTarget;
  readonly #o: Required<SerialHubOptions>;
  readonly #forget: () => void;
  readonly #ring: ReplayRing;
  readonly #viewers = new Set<SerialViewer>();
  /** Viewers told to hold their input until the chardev drains. */
  readonly #held = new Set<SerialViewer>();
  #socket: Duplex | undefined;
  /** A connection not yet established, so a close can end it too. */
  #dialing: Duplex | undefined;
  #connecting: Promise<void> | undefined;
  #linger: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #downSince: number | undefined;
  #attempt = 0;
  #closed = false;

  constructor(target: SerialTarget, options: Required<SerialHubOptions>, forget: () => void) {
    this.#target = target;
    this.#o = options;
    this.#forget = forget;
    this.#ring = new ReplayRing(options.replayBytes);
  }

  #emit(event: SerialHubEvent): void {
    try {
      this.#o.onEvent(event);
    } catch {
      // A listener's bug must not break the console.
    }
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  async attach(viewer: SerialViewer): Promise<SerialAttachment> {
    clearTimeout(this.#linger);
    this.#linger = undefined;
    this.#viewers.add(viewer);
    try {
      if (!this.#socket) await (this.#connecting ??= this.#connect());
    } catch (err) {
      this.#leave(viewer);
      // Viewers already here (the chardev dropped under them) keep waiting for it to come back.
      if (this.#viewers.size > 0 && this.#retry === undefined && !this.#closed) this.#reconnectLater();
      throw err;
    }
    if (!this.#viewers.has(viewer)) throw new Error('the serial console closed while the viewer was joining');
    const replay = this.#ring.contents();
    if (replay.length > 0) viewer.send(replay);
    let attached = true;
    return {
      write: (bytes) => {
        const socket = this.#socket;
        if (!attached || !socket || socket.destroyed) return true;
        socket.write(bytes);
        if (socket.writableLength <= this.#o.inputCapBytes) return true;
        this.#held.add(viewer);
        return false;
      },
      detach: () => {
        if (!attached) return;
        attached = false;
        this.#leave(viewer);
      },
    };
  }

  /** Drops every viewer and the chardev connection now. */
  close(reason: string): void {
    this.#closed = true;
    for (const viewer of [...this.#viewers]) this.#drop(viewer, reason);
    this.#shutdown();
  }

  #connect(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = this.#target.open?.() ?? connect({ host: this.#target.host, port: this.#target.port }).setNoDelay(true);
      this.#dialing = socket;
      const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${this.#o.connectTimeoutMs} ms`)), this.#o.connectTimeoutMs);
      let lastError: string | undefined;
      socket.once('connect', () => {
        clearTimeout(timer);
        this.#connecting = undefined;
        this.#dialing = undefined;
        if (this.#closed) {
          socket.destroy();
          reject(new Error('the serial console was closed'));
          return;
        }
        this.#socket = socket;
        this.#downSince = undefined;
        this.#attempt = 0;
        this.#emit({ type: 'chardev_connected', key: this.#target.key, viewers: this.#viewers.size });
        resolve();
      });
      socket.on('data', (chunk: Buffer) => this.#fanOut(chunk));
      socket.on('drain', () => {
        for (const viewer of this.#held) viewer.resumeInput();
        this.#held.clear();
      });
      socket.on('error', (err) => {
        lastError = err.message;
      });
      socket.once('close', () => {
        clearTimeout(timer);
        if (this.#socket !== socket) {
          // Never connected: the attach (or the reconnect) that started it hears why.
          this.#connecting = undefined;
          if (this.#dialing === socket) this.#dialing = undefined;
          reject(new Error(lastError ?? 'the serial console closed the connection'));
          return;
        }
        this.#socket = undefined;
        if (this.#closed) return;
        this.#emit({ type: 'chardev_lost', key: this.#target.key, viewers: this.#viewers.size, error: lastError });
        if (this.#viewers.size === 0) this.#shutdown();
        else this.#reconnectLater();
      });
    });
  }

  #reconnectLater(): void {
    this.#downSince ??= Date.now();
    if (Date.now() - this.#downSince > this.#o.giveUpMs) {
      this.close('the serial console is gone');
      return;
    }
    const delay = RECONNECT_DELAYS_MS[Math.min(this.#attempt++, RECONNECT_DELAYS_MS.length - 1)]!;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closed || this.#viewers.size === 0) return;
      void this.#target.verify().then(
        (same) => {
          if (this.#closed || this.#viewers.size === 0) return;
          if (!same) {
            this.close('the serial console moved or is gone');
            return;
          }
          (this.#connecting ??= this.#connect()).catch(() => this.#reconnectLater());
        },
        () => this.#reconnectLater(),
      );
    }, delay);
  }

  #fanOut(chunk: Buffer): void {
    this.#ring.push(chunk);
    for (const viewer of this.#viewers) {
      // Checked before handing more over: a viewer far behind is dropped, not waited for.
      const buffered = viewer.buffered();
      if (buffered + chunk.length > this.#o.viewerCapBytes) this.#drop(viewer, 'the viewer is not reading fast enough', buffered);
      else viewer.send(chunk);
    }
  }

  #drop(viewer: SerialViewer, reason: string, buffered = viewer.buffered()): void {
    this.#viewers.delete(viewer);
    this.#held.delete(viewer);
    this.#emit({ type: 'viewer_dropped', key: this.#target.key, reason, buffered });
    viewer.drop(reason);
    if (this.#viewers.size === 0 && !this.#closed) this.#lingerThenClose();
  }

  #leave(viewer: SerialViewer): void {
    if (!this.#viewers.delete(viewer)) return;
    this.#held.delete(viewer);
    if (this.#viewers.size === 0) this.#lingerThenClose();
  }

  #lingerThenClose(): void {
    clearTimeout(this.#linger);
    this.#linger = setTimeout(() => {
      if (this.#viewers.size === 0) this.#shutdown();
    }, this.#o.lingerMs);
  }

  #shutdown(): void {
    clearTimeout(this.#linger);
    clearTimeout(this.#retry);
    this.#closed = true;
    this.#forget();
    this.#dialing?.destroy();
    if (this.#socket) {
      this.#socket.destroy();
      this.#socket = undefined;
      this.#emit({ type: 'chardev_closed', key: this.#target.key });
    }
  }
}
