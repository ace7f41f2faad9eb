import { connect } from 'node:net';
import { WebSocket } from 'ws';
import type { AgentRequest, RemoteConsoleProtocol, RequestOf } from '../../lib/contracts/messages.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import type { LocalAws } from './aws-local.ts';
import { startHost, type HostUnderTest } from './transport-fixture.ts';

/** What the stand-in does for one server's console of one protocol. */
export type ConsoleBehaviour =
  /** Connect to this local TCP port and dial the tunnel, as the agent does. */
  | { port: number }
  /** Answer console.connect `connected` without dialling (a lost dial: the relay must time out). */
  | { port: number; neverDial: true }
  /** No such console (Nova's ConsoleTypeUnavailable). */
  | 'no-console'
  /** The driver cannot (Nova's NotImplementedError). */
  | 'not-implemented';

export interface ConsoleHostStandIn extends HostUnderTest {
  /** By `${serverId}/${protocol}`; tests change it at will. */
  consoles: Map<string, ConsoleBehaviour>;
  /** Every console.connect received, in order. */
  connects: Array<RequestOf<'console.connect'>>;
  /** Tunnels it dialled that are still open. */
  tunnels: Set<WebSocket>;
  stop(): Promise<void>;
}

export const consoleKey = (serverId: string, protocol: RemoteConsoleProtocol) => `${serverId}/${protocol}`;

/**
 * A compute host reduced to its remote-console wire behaviour, for stack tests whose demo host is
 * the files driver (no consoles) and that cannot take the libvirt machine lock (the real agent with
 * real guests: test/system/libvirt-remote-consoles.test.ts): a real
 * Responder on the host's real SQS queue answering console.endpoint from `consoles`, and
 * console.connect as the agent will (the port re-checked against the server's current one, a TCP
 * connection to it, a WebSocket dialled to the tunnel URL, every TCP chunk sent as one binary
 * frame, every frame received written to TCP, either side's end ending both).
 */
export async function startConsoleHostStandIn(aws: Pick<LocalAws, 'sqs' | 'env'>, host: string, options: { tunnelCa?: string } = {}): Promise<ConsoleHostStandIn> {
  const consoles = new Map<string, ConsoleBehaviour>();
  const connects: Array<RequestOf<'console.connect'>> = [];
  const tunnels = new Set<WebSocket>();
  const behaviourOf = (request: Extract<AgentRequest, { kind: 'console.endpoint' | 'console.connect' }>) => {
    const behaviour = consoles.get(consoleKey(request.server.id, request.protocol));
    if (behaviour === undefined || behaviour === 'no-console') throw new VmconsoleError('NoConsole', `This server has no ${request.protocol} console.`, { detail: 'stand-in: no console' });
    if (behaviour === 'not-implemented') throw new VmconsoleError('NotImplemented', 'The compute host of this server cannot do this.', { detail: 'stand-in: not implemented' });
    return behaviour;
  };
  const hostUnderTest = await startHost(aws, host, {
    handle: async (request) => {
      if (request.kind === 'console.endpoint') return { port: behaviourOf(request).port, tlsPort: null };
      if (request.kind !== 'console.connect') throw new VmconsoleError('NotImplemented', 'The compute host of this server cannot do this.', { detail: `stand-in does not serve ${request.kind}` });
      connects.push(request);
      const behaviour = behaviourOf(request);
      if (behaviour.port !== request.port) throw new VmconsoleError('NoConsole', 'The console port is no longer this server\'s.', { detail: `asked ${request.port}, current ${behaviour.port}` });
      if ('neverDial' in behaviour) return { connected: true };
      await dialTunnel(request.tunnelUrl, behaviour.port, tunnels, options.tunnelCa);
      return { connected: true };
    },
  });
  return {
    ...hostUnderTest,
    consoles,
    connects,
    tunnels,
    async stop() {
      for (const ws of tunnels) ws.terminate();
      await hostUnderTest.responder.stop();
    },
  };
}

async function dialTunnel(tunnelUrl: string, port: number, tunnels: Set<WebSocket>, ca: string | undefined): Promise<void> {
  const tcp = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => tcp.once('connect', resolve).once('error', reject));
  tcp.setNoDelay(true);
  tcp.on('error', () => undefined);
  const ws = new WebSocket(tunnelUrl, { perMessageDeflate: false, ...(ca !== undefined && { ca }) });
  // Listen before the open is awaited: the relay forwards what the browser typed early at once,
  // in the same TCP read as the 101, and ws emits it before an awaiting caller could listen.
  ws.on('message', (data) => tcp.write(data as Buffer));
  ws.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`tunnel refused: ${res.statusCode}`)));
    });
  } catch (err) {
    tcp.destroy();
    throw new VmconsoleError('Internal', 'The request failed on the compute host.', { detail: String(err) });
  }
  tunnels.add(ws);
  tcp.on('data', (chunk) => ws.send(chunk, { binary: true }));
  tcp.on('close', () => ws.close());
  ws.on('close', () => {
    tunnels.delete(ws);
    tcp.destroy();
  });
}
