import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { RemoteConsoleProtocol } from '../contracts/messages.ts';
import { SerialHubs, type SerialAttachment, type SerialHubEvent } from '../console/serial-hub.ts';
import { VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * The agent's remote-console sessions: each one a console endpoint of this host (a TCP
 * connection to QEMU's VNC or SPICE server, or a viewer of the serial hub) spliced to a WebSocket
 * the agent dials OUT to the relay. The agent listens on nothing: compute hosts accept no inbound
 * connection for consoles. Bytes flow both ways untouched (RFB, SPICE and serial bytes alike);
 * the relay shapes frames for browsers.
 *
 * Backpressure, never unbounded buffers: console -> relay pauses the console socket while the
 * tunnel holds more than HIGH_WATER unsent and resumes below LOW_WATER; relay -> console pauses
 * the tunnel while the console socket's write buffer is full. Serial viewers are never paused:
 * the hub drops a slow one (lib/console/serial-hub.ts).
 */
export interface ConsoleSessionsOptions {
  /** Tunnel URL prefixes the agent may dial (VMCONSOLE_RELAY_URL_PREFIXES); none: every console.connect is refused. */
  relayPrefixes: readonly string[];
  logger: Logger;
  /** The serial hubs sessions attach to; one is made when not given. */
  hubs?: SerialHubs;
  /** Sessions open at once on this host; more are refused. */
  maxSessions?: number;
}

export interface SessionRequest {
  requestId: string;
  serverId: string;
  protocol: RemoteConsoleProtocol;
  /** Where to connect: from the hypervisor, already checked by connectableAddress (with `open`: the stream's id, for logs). */
  host: string;
  port: number;
  /** Serial only: the driver's own way to the console (ConsoleEndpoint.stream), instead of TCP to host:port. */
  open?: () => Duplex;
  tunnelUrl: string;
  /** Serial only: whether host:port is still this server's serial console (asked before the hub reconnects). */
  verify: () => Promise<boolean>;
  /** The request's deadline: setting up must finish by then. */
  signal: AbortSignal;
}

/** Above this many bytes unsent on the tunnel the console socket is paused; resumed below LOW_WATER. */
export const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** One frame from the relay: keystrokes, pointer events, a pasted block. Larger ones close the tunnel (1009). */
export const MAX_TUNNEL_PAYLOAD = 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Pings keep idle tunnels open through load balancers (ALB: 60 s idle by default) and find dead relays. */
const PING_EVERY_MS = 25_000;
const CLOSE_GRACE_MS = 1_000;
const DEFAULT_MAX_SESSIONS = 256;

interface Session {
  close(reason: string): void;
  closed: Promise<void>;
}

/** An open tunnel and what the relay sent on it before the session's own handler was on. */
interface DialledTunnel {
  tunnel: WebSocket;
  /** The messages held since 'open', oldest first; stops holding (call once the session's handler is on). */
  takeHeld(): Buffer[];
}

export class ConsoleSessions {
  readonly #prefixes: readonly string[];
  readonly #logger: Logger;
  readonly #hubs: SerialHubs;
  readonly #max: number;
  readonly #sessions = new Set<Session>();
  #stopping = false;

  constructor(options: ConsoleSessionsOptions) {
    this.#prefixes = options.relayPrefixes;
    this.#logger = options.logger;
    this.#hubs = options.hubs ?? new SerialHubs({ onEvent: (event) => logHubEvent(this.#logger, event) });
    this.#max = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  get prefixes(): readonly string[] {
    return this.#prefixes;
  }

  get open(): number {
    return this.#sessions.size;
  }

  /**
   * A URL the agent may dial: under one of its relay prefixes, compared as the URL parser
   * normalises it (so `ws://relay/t/../x` is judged where it leads), with no user info.
   */
  isAllowedTunnel(url: string): boolean {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return false;
    }
    if (parsed.username || parsed.password || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) return false;
    return this.#prefixes.some((prefix) => parsed.href.startsWith(prefix) && parsed.href.length > prefix.length);
  }

  /** Opens one session; resolves once the console and the tunnel are both open and spliced. */
  async start(request: SessionRequest): Promise<void> {
    if (this.#stopping) throw new VmconsoleError('Internal', 'The compute host is stopping.', { detail: 'console.connect during agent shutdown' });
    if (this.#sessions.size >= this.#max) {
      throw new VmconsoleError('Internal', 'The compute host has too many console sessions open.', { detail: `${this.#sessions.size} sessions open (at most ${this.#max})` });
    }
    const startedAt = Date.now();
    const stats = { toRelay: 0, fromRelay: 0 };
    const dialled = await this.#dial(request);
    const { tunnel } = dialled;
    let session: Session;
    try {
      session = request.protocol === 'serial' ? await this.#serial(request, dialled, stats) : await this.#stream(request, dialled, stats);
    } catch (err) {
      tunnel.terminate();
      throw err;
    }
    this.#sessions.add(session);
    const ping = setInterval(() => tunnel.ping(), PING_EVERY_MS);
    ping.unref();
    this.#logger.info('console session opened', { requestId: request.requestId, serverId: request.serverId, protocol: request.protocol, setupMs: Date.now() - startedAt });
    void session.closed.then(() => {
      clearInterval(ping);
      this.#sessions.delete(session);
    });
    // Logged once, when the session ends, however it ends.
    void session.closed.then(() => this.#logger.info('console session closed', {
      requestId: request.requestId, serverId: request.serverId, protocol: request.protocol,
      durationMs: Date.now() - startedAt, bytesToRelay: stats.toRelay, bytesFromRelay: stats.fromRelay,
    }));
  }

  /** Agent shutdown: every session ends (the relay hears a 1001 close), every serial console is let go. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const all = [...this.#sessions];
    for (const session of all) session.close('the agent is stopping');
    this.#hubs.stop();
    await Promise.all(all.map((s) => s.closed));
  }

  /**
   * The tunnel, open and paused, with a handler on from the moment it opened: the relay forwards
   * what the browser sent before the tunnel existed (an RFB client's ProtocolVersion, early
   * keystrokes) right behind the 101, while the session is still reaching the console, and ws
   * drops a message nobody listens for. Refused, unreachable or too slow (the request's deadline)
   * is an error.
   */
  #dial(request: SessionRequest): Promise<DialledTunnel> {
    return new Promise((resolve, reject) => {
      const tunnel = new WebSocket(request.tunnelUrl, {
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        maxPayload: MAX_TUNNEL_PAYLOAD,
        perMessageDeflate: false,
        followRedirects: false,
      });
      const onAbort = () => tunnel.terminate();
      request.signal.addEventListener('abort', onAbort, { once: true });
      const fail = (err: VmconsoleError) => {
        request.signal.removeEventListener('abort', onAbort);
        tunnel.removeAllListeners();
        tunnel.on('error', () => undefined);
        tunnel.terminate();
        reject(err);
      };
      tunnel.once('open', () => {
        request.signal.removeEventListener('abort', onAbort);
        tunnel.removeAllListeners();
        // Until the session's own handlers are on, an error must not go unheard (it would throw).
        tunnel.on('error', () => undefined);
        const held: Buffer[] = [];
        const hold = (data: Buffer) => held.push(data);
        tunnel.on('message', hold);
        // Read no more than what already arrived until the console is reached.
        tunnel.pause();
        resolve({
          tunnel,
          takeHeld: () => {
            tunnel.off('message', hold);
            return held.splice(0);
          },
        });
      });
      tunnel.once('unexpected-response', (_req, res) => {
        fail(new VmconsoleError('Internal', 'The console relay refused the compute host\'s tunnel.', { detail: `tunnel dial answered HTTP ${res.statusCode}` }));
      });
      tunnel.once('error', (err) => {
        const timedOut = request.signal.aborted || /timed out/i.test(err.message);
        fail(timedOut
          ? new VmconsoleError('HostTimeout', 'The compute host could not reach the console relay in time.', { detail: `tunnel dial: ${err.message}` })
          : new VmconsoleError('Internal', 'The compute host could not reach the console relay.', { detail: `tunnel dial: ${err.message}` }));
      });
      tunnel.once('close', () => fail(new VmconsoleError('Internal', 'The compute host could not reach the console relay.', { detail: 'tunnel closed before it opened' })));
    });
  }

  /** VNC and SPICE: a TCP connection of our own to the console, spliced to the tunnel. */
  async #stream(request: SessionRequest, { tunnel, takeHeld }: DialledTunnel, stats: { toRelay: number; fromRelay: number }): Promise<Session> {
    const target = await connectTo(request);
    if (tunnel.readyState !== WebSocket.OPEN) {
      // The relay hung up while the console was being reached: its close was before our handlers.
      target.destroy();
      throw new VmconsoleError('Internal', 'The console relay closed the tunnel.', { detail: 'tunnel closed while connecting to the console' });
    }
    let done!: () => void;
    const closed = new Promise<void>((resolve) => (done = resolve));
    let ended = false;
    const end = (code: number, reason: string) => {
      if (ended) return;
      ended = true;
      target.destroy();
      closeTunnel(tunnel, code, reason);
      done();
    };
    const resumeIfDrained = () => {
      if (target.isPaused() && tunnel.bufferedAmount < LOW_WATER) target.resume();
    };
    target.on('data', (chunk: Buffer) => {
      stats.toRelay += chunk.length;
      tunnel.send(chunk, { binary: true }, resumeIfDrained);
      if (tunnel.bufferedAmount > HIGH_WATER) target.pause();
    });
    target.on('drain', () => tunnel.resume());
    target.on('error', () => undefined);
    target.on('close', () => end(1000, 'console closed'));
    let full = false;
    const deliver = (data: Buffer) => {
      stats.fromRelay += data.length;
      full = !target.write(data);
      if (full) tunnel.pause();
    };
    for (const data of takeHeld()) deliver(data);
    tunnel.on('message', deliver);
    tunnel.on('error', () => undefined);
    tunnel.on('close', () => end(1000, 'tunnel closed'));
    if (!full) tunnel.resume();
    target.resume();
    return { closed, close: (reason) => end(1001, reason) };
  }

  /** Serial: a viewer of the server's serial hub, its input and output through the tunnel. */
  async #serial(request: SessionRequest, { tunnel, takeHeld }: DialledTunnel, stats: { toRelay: number; fromRelay: number }): Promise<Session> {
    let done!: () => void;
    const closed = new Promise<void>((resolve) => (done = resolve));
    let ended = false;
    let attachment: SerialAttachment | undefined;
    const end = (code: number, reason: string, abrupt = false) => {
      if (ended) return;
      ended = true;
      attachment?.detach();
      // A viewer dropped for not reading has a full tunnel: a close frame would queue behind it.
      if (abrupt) tunnel.terminate();
      else closeTunnel(tunnel, code, reason);
      done();
    };
    tunnel.on('error', () => undefined);
    tunnel.on('close', () => end(1000, 'tunnel closed'));
    tunnel.pause();
    attachment = await this.#hubs.attach(
      { key: `${request.serverId}@${request.host}:${request.port}`, host: request.host, port: request.port, verify: request.verify, ...(request.open && { open: request.open }) },
      {
        send: (chunk) => {
          stats.toRelay += chunk.length;
          tunnel.send(chunk, { binary: true });
        },
        buffered: () => tunnel.bufferedAmount,
        drop: (reason) => end(1011, reason, true),
        resumeInput: () => tunnel.resume(),
      },
    ).catch((err: unknown) => {
      ended = true;
      throw new VmconsoleError('Internal', 'The console of this server is not reachable on its host.', { detail: `serial ${request.host}:${request.port}: ${(err as Error).message}` });
    });
    if (ended) {
      // The tunnel closed while the hub was connecting.
      attachment.detach();
      throw new VmconsoleError('Internal', 'The console relay closed the tunnel.', { detail: 'tunnel closed while connecting to the serial console' });
    }
    const input = attachment;
    let full = false;
    const deliver = (data: Buffer) => {
      stats.fromRelay += data.length;
      full = !input.write(data);
      if (full) tunnel.pause();
    };
    for (const data of takeHeld()) deliver(data);
    tunnel.on('message', deliver);
    if (!full) tunnel.resume();
    return { closed, close: (reason) => end(1001, reason) };
  }
}

/** The hubs' account of the serial consoles, in the agent's log. */
function logHubEvent(logger: Logger, { type, ...data }: SerialHubEvent): void {
  switch (type) {
    case 'viewer_dropped':
      return logger.info('serial viewer dropped', data);
    case 'chardev_lost':
      return logger.warn('serial console connection lost; reconnecting', data);
    case 'chardev_connected':
      return logger.info('serial console connected', data);
    case 'chardev_closed':
      return logger.info('serial console released (no viewers left)', data);
  }
}

/** A paused TCP connection to the console; the request's deadline bounds the wait. */
function connectTo(request: SessionRequest): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: request.host, port: request.port });
    socket.pause();
    socket.setNoDelay(true);
    const onAbort = () => socket.destroy(new Error('the request\'s deadline passed'));
    request.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      request.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      request.signal.removeEventListener('abort', onAbort);
      reject(new VmconsoleError('Internal', 'The console of this server is not reachable on its host.', { detail: `${request.protocol} ${request.host}:${request.port}: ${err.message}` }));
    });
  });
}

/** A clean close, and a hard one if the relay does not answer it soon. */
function closeTunnel(tunnel: WebSocket, code: number, reason: string): void {
  if (tunnel.readyState === WebSocket.CLOSED) return;
  tunnel.close(code, reason.slice(0, 120));
  setTimeout(() => tunnel.terminate(), CLOSE_GRACE_MS).unref();
}
