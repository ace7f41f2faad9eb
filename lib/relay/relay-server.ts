import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../logger.ts';
import { authorizeConsoleSession, type TokenStore } from '../remote-consoles/authorize-console-session.ts';
import type { ConsoleType } from '../remote-consoles/console-tokens.ts';
import type { ServerLookup } from '../servers/find-visible-server.ts';
import { hostToAsk, type HostLookup } from '../directory/host-to-ask.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { THIS_BUILD, versionFor } from '../transport/protocol-version.ts';
import { TypedEmitter } from '../transport/typed-emitter.ts';
import { consolePages } from './console-pages.ts';
import { originAllowed } from './origin-check.ts';
import { PendingTunnels } from './pending-tunnels.ts';
import type { RelayConfig } from './relay-config.ts';
import { SessionCounts } from './session-counts.ts';
import { splice, type SpliceStats } from './splice.ts';
import { serveStatic, type StaticMount } from './static-files.ts';
import { tokenFromRequest } from './token-from-request.ts';
import { signTunnelId, verifyTunnelId } from './tunnel-ids.ts';

export interface RelayDependencies {
  tokens: TokenStore;
  directory: ServerLookup & HostLookup;
  requester: HostRequester;
  logger: Logger;
  /** The newest host protocol version to speak (VMCONSOLE_PROTOCOL_MAX); this build's if not given. */
  protocolMax?: number;
}

/** Where each listener is, once started. */
export interface RelayAddresses {
  novnc: string;
  spice: string;
  serial: string;
  /** What agents are told to dial, up to the tunnel id. */
  tunnel: string;
}

/** What the relay reports; main.ts logs them, tests observe them. */
export interface RelayEvents extends Record<string, unknown> {
  session_refused: { listener: ConsoleType; why: string; serverId?: string };
  session_opened: { listener: ConsoleType; session: string; serverId: string; host: string };
  session_closed: { listener: ConsoleType; session: string; serverId: string } & SpliceStats;
  tunnel_refused: { reason: string };
}

/** Bytes a browser may send before its console is connected (RFB and serial clients send little). */
const EARLY_BYTES_LIMIT = 64 * 1024;

const LISTENERS: ReadonlyArray<{ type: ConsoleType; port: keyof RelayConfig['ports'] }> = [
  { type: 'novnc', port: 'novnc' },
  { type: 'spice-html5', port: 'spice' },
  { type: 'serial', port: 'serial' },
];

function toBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/**
 * The console relay: Nova's three console proxies (noVNC, SPICE html5, serial) on `ws`, with the
 * last leg reversed. A browser's WebSocket is accepted (the 101 comes first, as in websockify),
 * then its token is checked; any refusal ends the TCP connection with no byte after the 101 and no
 * close frame, which is what tempest's bad-token check accepts. A valid session asks the server's
 * host (console.connect, through its SQS queue) to dial back to the tunnel listener with a signed,
 * single-use, short-lived tunnel id, and the two sockets are spliced.
 */
export class ConsoleRelay extends TypedEmitter<RelayEvents> {
  readonly #config: RelayConfig;
  readonly #deps: RelayDependencies;
  readonly #servers: Server[] = [];
  readonly #tunnels = new PendingTunnels();
  readonly #counts: SessionCounts;
  readonly #sockets = new Set<WebSocket>();
  #pending = 0;
  #tunnelBase = '';

  constructor(config: RelayConfig, deps: RelayDependencies) {
    super();
    this.#config = config;
    this.#deps = deps;
    this.#counts = new SessionCounts({ perServer: config.maxSessionsPerServer, perProject: config.maxSessionsPerProject });
  }

  /** Sessions spliced or being set up, and tunnels waited for. */
  get stats(): { sessions: number; pending: number; tunnelsAwaited: number } {
    return { sessions: this.#counts.total, pending: this.#pending, tunnelsAwaited: this.#tunnels.size };
  }

  async start(): Promise<RelayAddresses> {
    const pages = consolePages();
    const urls: Partial<Record<ConsoleType, string>> = {};
    for (const { type, port } of LISTENERS) {
      const server = this.#httpServer(pages[type]);
      const wss = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        maxPayload: this.#config.maxFrameBytes,
        // websockify's choice: `binary` when offered (tempest, spice-html5), else none (noVNC offers none).
        handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
      });
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        socket.on('error', () => socket.destroy());
        wss.handleUpgrade(req, socket, head, (ws) => void this.#browserSession(type, ws, req));
      });
      urls[type] = await this.#listen(server, this.#config.ports[port], 'http');
    }
    const tunnel = this.#httpServer([], this.#config.tunnelTls);
    const agents = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false, maxPayload: this.#config.maxFrameBytes });
    tunnel.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      this.#agentDial(agents, req, socket, head);
    });
    const tunnelAddress = await this.#listen(tunnel, this.#config.ports.tunnel, this.#config.tunnelTls ? 'wss' : 'ws');
    this.#tunnelBase = this.#config.tunnelUrl ?? `${tunnelAddress}/tunnel`;
    return { novnc: urls.novnc!, spice: urls['spice-html5']!, serial: urls.serial!, tunnel: this.#tunnelBase };
  }

  async close(): Promise<void> {
    this.#tunnels.failAll(new Error('relay stopping'));
    for (const ws of this.#sockets) ws.terminate();
    await Promise.all(this.#servers.map(async (server) => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }));
  }

  #httpServer(mounts: readonly StaticMount[], tls?: { cert: string; key: string }): Server {
    const timeout = this.#config.handshakeTimeoutMs;
    // Half-open requests (headers never finished) are cut at the handshake timeout; Node checks
    // every connectionsCheckingInterval, 30 s by default, far too lazy for a flood.
    const options = { headersTimeout: timeout, requestTimeout: timeout, connectionsCheckingInterval: Math.min(1_000, timeout), keepAliveTimeout: 5_000 };
    const handler: RequestListener = (req, res) => {
      void serveStatic(mounts, req, res).catch(() => res.destroy());
    };
    const server: Server = tls ? createTlsServer({ ...options, ...tls, handshakeTimeout: timeout }, handler) : createServer(options, handler);
    server.on('clientError', (_err, socket) => socket.destroy());
    this.#servers.push(server);
    return server;
  }

  async #listen(server: Server, port: number, scheme: 'http' | 'ws' | 'wss'): Promise<string> {
    server.listen(port, this.#config.listenHost);
    await once(server, 'listening');
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `${scheme}://${host}:${address.port}`;
  }

  #track(ws: WebSocket): void {
    this.#sockets.add(ws);
    ws.once('close', () => this.#sockets.delete(ws));
    // Errors (a bad frame, a reset) are followed by 'close', which does the cleaning up.
    ws.on('error', () => undefined);
  }

  async #browserSession(listener: ConsoleType, ws: WebSocket, req: IncomingMessage): Promise<void> {
    this.#track(ws);
    const refuse = (why: string, serverId?: string) => {
      // Nova's way: no close frame, no byte at all after the 101; the TCP connection just ends.
      ws.terminate();
      this.emit('session_refused', { listener, why, ...(serverId && { serverId }) });
    };
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const hold = (data: RawData) => {
      const chunk = toBuffer(data);
      earlyBytes += chunk.length;
      if (earlyBytes > EARLY_BYTES_LIMIT) return refuse('sent too much before the console was connected');
      early.push(chunk);
    };
    ws.on('message', hold);
    if (this.#pending >= this.#config.maxPending) return refuse('too many sessions being set up');
    this.#pending++;
    let release: (() => void) | undefined;
    let session: string | undefined;
    const browserLeft = () => { if (session) this.#tunnels.fail(session, new Error('the browser left')); };
    ws.once('close', () => { release?.(); browserLeft(); });
    try {
      const token = tokenFromRequest(req.url, req.headers.cookie);
      const auth = await authorizeConsoleSession(token, listener, this.#deps);
      if (!auth.ok) return refuse(auth.why);
      const { grant, server } = auth;
      if (!originAllowed(req.headers, this.#config.allowedOrigins, grant.accessUrlBase)) return refuse('origin not allowed', server.id);
      const slot = this.#counts.acquire(server.id, server.projectId);
      if (typeof slot === 'string') return refuse(slot, server.id);
      release = slot.release;
      if (ws.readyState !== WebSocket.OPEN) return release();
      const host = await hostToAsk(this.#deps.directory, server, Date.now());
      const tunnelId = signTunnelId(this.#config.secret, this.#config.tunnelTimeoutMs);
      session = tunnelId.session;
      const agentSocket = this.#tunnels.expect(session, this.#config.tunnelTimeoutMs);
      const version = versionFor(host, { ...THIS_BUILD, max: this.#deps.protocolMax ?? THIS_BUILD.max });
      askHost(this.#deps.requester, 'console.connect', host.host, {
        server: { id: server.id, instanceName: server.instanceName },
        protocol: grant.protocol,
        port: grant.port,
        tunnelUrl: `${this.#tunnelBase}/${tunnelId.id}`,
      }, { deadline: tunnelId.expiresAtMs, requestId: `req-${randomUUID()}`, version })
        .catch((err: unknown) => this.#tunnels.fail(tunnelId.session, err instanceof Error ? err : new Error(String(err))));
      let agent: WebSocket;
      try {
        agent = await agentSocket;
      } catch (err) {
        this.#deps.logger.info('console session not connected', { session, serverId: server.id, host: host.host, reason: err instanceof Error ? err.message : String(err) });
        return refuse('console not connected', server.id);
      }
      if (ws.readyState !== WebSocket.OPEN) return agent.terminate();
      ws.off('message', hold);
      const opened = session;
      this.emit('session_opened', { listener, session: opened, serverId: server.id, host: host.host });
      splice(ws, agent, early, {
        idleTimeoutMs: this.#config.idleTimeoutMs,
        onClose: (stats) => {
          release?.();
          this.emit('session_closed', { listener, session: opened, serverId: server.id, ...stats });
        },
      });
    } catch (err) {
      this.#deps.logger.warn('console session refused on an error', { listener, reason: err instanceof Error ? err.message : String(err) });
      refuse('error');
    } finally {
      this.#pending--;
    }
  }

  /** An agent dialling back: only a valid, unexpired tunnel id the relay still waits for is accepted. */
  #agentDial(agents: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const id = tunnelIdOf(req.url);
    const verdict = verifyTunnelId(this.#config.secret, id);
    const handOff = verdict.ok ? this.#tunnels.claim(verdict.session) : undefined;
    if (!handOff) {
      const reason = verdict.ok ? 'unknown or already used' : verdict.reason;
      this.emit('tunnel_refused', { reason });
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      // Written, then cut: a dialler that does not close its side is not waited for.
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    agents.handleUpgrade(req, socket, head, (agent) => {
      this.#track(agent);
      handOff(agent);
    });
  }
}

/** The last path segment of a tunnel dial; a malformed percent-escape (anyone may send one) is no id, not a crash. */
function tunnelIdOf(url: string | undefined): string {
  try {
    return decodeURIComponent((url ?? '').split('?')[0]!.split('/').at(-1) ?? '');
  } catch {
    return '';
  }
}
