import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { waitFor } from './wait.ts';

/**
 * The relay's tunnel path, as far as an agent sees it: a real `ws` WebSocket server on loopback
 * that accepts the agent's dial (`console.connect`'s tunnelUrl) at `<url>/<tunnel id>`, and
 * keeps every byte the agent sends. The agent's side alone is under test with it: what it dials,
 * sends and does when the tunnel stalls, refuses or closes, which the real relay cannot be made to
 * do on demand (test/system/remote-consoles-end-to-end.test.ts runs the agent through the real one).
 *
 *   const relay = await startTunnelEndpoint();
 *   const tunnelUrl = relay.urlFor('t1');            // under relay.prefix
 *   ... console.connect with tunnelUrl ...
 *   const t = await relay.tunnel('t1');
 *   await t.waitFor(/RFB 003\.008\n/);
 */
export interface TunnelEndpoint {
  /** What an agent's VMCONSOLE_RELAY_URL_PREFIXES names: ws://127.0.0.1:<port>/tunnel/ */
  prefix: string;
  urlFor(id: string): string;
  /** The tunnel the agent opened for `id` (waits for it). */
  tunnel(id: string, timeoutMs?: number): Promise<AcceptedTunnel>;
  /** Tunnel ids the agent dialled, in order. */
  dialled(): string[];
  /** Answer dials with this HTTP status instead of accepting them (undefined: accept). */
  refuseWith(status: number | undefined): void;
  /** Send these bytes right behind the 101 of every accepted dial, as the relay forwards a browser's early bytes (undefined: nothing). */
  sendOnAccept(bytes: string | undefined): void;
  close(): Promise<void>;
}

export interface AcceptedTunnel {
  socket: WebSocket;
  /** Every byte received so far. */
  received(): Buffer;
  /** Resolves with the received text (latin1, the last 64 KiB of it) once that matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Bytes to the agent (to the console), as one binary frame. */
  send(bytes: Buffer | string): void;
  /** Stop reading from the TCP connection: the agent's side fills up, as with a stalled browser. */
  stopReading(): void;
  /** Read again (a paused connection does not even see the agent hang up). */
  resumeReading(): void;
  /** Resolves with the close code once the tunnel is closed (by either side). */
  closed: Promise<number>;
}

export async function startTunnelEndpoint(): Promise<TunnelEndpoint> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: undefined, perMessageDeflate: false, maxPayload: 1024 * 1024 });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const prefix = `ws://127.0.0.1:${port}/tunnel/`;
  const tunnels = new Map<string, AcceptedTunnel>();
  const order: string[] = [];
  let refusal: number | undefined;
  let onAccept: string | undefined;
  const idOf = (url: string | undefined) => /^\/tunnel\/([A-Za-z0-9_-]+)$/.exec(url ?? '')?.[1];
  server.shouldHandle = (req) => idOf(req.url) !== undefined;
  server.on('wsClientError', () => undefined);
  server.on('connection', (socket, req) => {
    const id = idOf(req.url)!;
    if (onAccept !== undefined) socket.send(Buffer.from(onAccept), { binary: true });
    // Every byte (the last 4 MiB of them: a flood test must not grow the test's own heap without
    // end), and the last 64 KiB as text for waitFor, so a flood is never re-joined per chunk.
    const chunks: Buffer[] = [];
    let bytes = 0;
    let tail = '';
    const watchers = new Set<() => void>();
    socket.on('message', (data: Buffer) => {
      chunks.push(data);
      bytes += data.length;
      while (bytes > 4 * 1024 * 1024 && chunks.length > 1) bytes -= chunks.shift()!.length;
      tail += data.toString('latin1');
      if (tail.length > 65_536) tail = tail.slice(-65_536);
      for (const watcher of watchers) watcher();
    });
    socket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const received = () => Buffer.concat(chunks);
    tunnels.set(id, {
      socket,
      received,
      waitFor: (pattern, timeoutMs = 30_000) => new Promise<string>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(tail)) return;
          watchers.delete(check);
          clearTimeout(timer);
          resolve(tail);
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} on tunnel ${id}; last received: ${JSON.stringify(tail.slice(-300))}`));
        }, timeoutMs);
        watchers.add(check);
        check();
      }),
      send: (data) => socket.send(typeof data === 'string' ? Buffer.from(data) : data, { binary: true }),
      stopReading: () => {
        // ws's own pause() stops parsing; pausing the TCP socket stops the kernel reads too.
        socket.pause();
        (socket as unknown as { _socket: import('node:net').Socket })._socket.pause();
      },
      resumeReading: () => {
        (socket as unknown as { _socket: import('node:net').Socket })._socket.resume();
        socket.resume();
      },
      closed,
    });
  });
  // ws answers shouldHandle=false with 400; a relay that refuses an expired tunnel id says 401 or 404.
  const originalHandleUpgrade = server.handleUpgrade.bind(server);
  server.handleUpgrade = (req, socket, head, cb) => {
    const id = idOf(req.url);
    if (id) order.push(id);
    if (refusal !== undefined) {
      socket.end(`HTTP/1.1 ${refusal} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    originalHandleUpgrade(req, socket, head, cb);
  };
  return {
    prefix,
    urlFor: (id) => `${prefix}${id}`,
    async tunnel(id, timeoutMs = 30_000) {
      await waitFor(() => tunnels.has(id), timeoutMs, `the agent to dial tunnel ${id}`);
      return tunnels.get(id)!;
    },
    dialled: () => [...order],
    sendOnAccept: (bytes) => {
      onAccept = bytes;
    },
    refuseWith: (status) => {
      refusal = status;
    },
    async close() {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
