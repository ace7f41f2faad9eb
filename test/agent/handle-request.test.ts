/**
 * The agent's request-kind table (lib/agent/handle-request.ts): each kind of the wire contract has
 * a handler whose result the contract's own schema accepts; console output is read through the
 * driver with the window and the request's deadline signal, and shaped on the host.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSessions } from '../../lib/agent/console-sessions.ts';
import { createRequestHandler } from '../../lib/agent/handle-request.ts';
import { MAX_CONSOLE_WINDOW, PROTOCOL_VERSION, REQUEST_KINDS, type AgentRequest, type RequestKind, type RequestOf } from '../../lib/contracts/messages.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import type { ConsoleEndpoint, DiscoveredServer, HypervisorDriver, ServerHandle } from '../../lib/hypervisors/driver.ts';
import type { AutomationReply } from '../../lib/contracts/automation.ts';
import { AutomationReplies } from '../../lib/transport/automation-replies.ts';
import { ReplyDestinations } from '../../lib/transport/queue-naming.ts';
import { novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { startTunnelEndpoint, type TunnelEndpoint } from '../helpers/tunnel-endpoint.ts';
import type { HistoryShipping } from '../../lib/agent/ship-history.ts';
import { virtlogdRotation } from '../../lib/console/rotated-log.ts';
import { ConsoleHistory } from '../../lib/history/console-history.ts';
import type { HistoryStore } from '../../lib/history/history-store.ts';

/** A driver that hands out fixed bytes and remembers how it was asked: the handler's only neighbour. */
class ScriptedDriver implements HypervisorDriver {
  readonly kind = 'files' as const;
  readonly reads: Array<{ server: ServerHandle; window: number; signal?: AbortSignal }> = [];
  readonly #answer: () => Promise<Buffer>;
  /** Where its one server's consoles listen (every protocol alike); none when undefined. */
  endpoint: ConsoleEndpoint | undefined;
  constructor(answer: () => Promise<Buffer>, endpoint?: ConsoleEndpoint) {
    this.#answer = answer;
    this.endpoint = endpoint;
  }
  async listServers(): Promise<DiscoveredServer[]> {
    return [];
  }
  readConsoleLog(server: ServerHandle, window: number, signal?: AbortSignal): Promise<Buffer> {
    this.reads.push({ server, window, signal });
    return this.#answer();
  }
  async consoleEndpoint(): Promise<ConsoleEndpoint | undefined> {
    return this.endpoint;
  }
}

const CLIENT_PREFIX = 'http://127.0.0.1:9/000000000000/client-replies-';
const server = { id: '5e1f0c7a-3b2d-4c6e-8f90-a1b2c3d4e5f6', instanceName: 'instance-0000002a' };
const context = () => ({ deadline: Date.now() + 5_000, signal: new AbortController().signal, requestId: 'req-kind-table' });

/** One sample request per kind: a kind added to the contract does not compile here until it has one. */
const SAMPLES: { [K in RequestKind]: RequestOf<K> } = {
  'console.output': { v: PROTOCOL_VERSION, kind: 'console.output', server, length: 2 },
  'console.output.batch': { v: PROTOCOL_VERSION, kind: 'console.output.batch', servers: [{ server, seq: 1 }], total: 1, clientRequestId: 'client-1', replyTo: `${CLIENT_PREFIX}1`, length: 2 },
  'console.screenshot': { v: PROTOCOL_VERSION, kind: 'console.screenshot', server },
  'console.endpoint': { v: PROTOCOL_VERSION, kind: 'console.endpoint', server, protocol: 'vnc' },
  'console.connect': { v: PROTOCOL_VERSION, kind: 'console.connect', server, protocol: 'vnc', port: 5900, tunnelUrl: 'ws://127.0.0.1:9/tunnel/t' },
  'console.read': { v: PROTOCOL_VERSION, kind: 'console.read', server, port: 0, since: 0, limit: 4096, waitMs: 0 },
  'console.ports': { v: PROTOCOL_VERSION, kind: 'console.ports', server },
};

/**
 * A host's console history over one real ConsoleHistory holding `bytes` (from offset 1000, as
 * after an earlier host's 1000 bytes); its store is never reached (nothing is shipped here).
 */
function historyHolding(bytes: Buffer): { history: Pick<HistoryShipping, 'read' | 'ports' | 'window'>; dispose: () => void } {
  const console0 = new ConsoleHistory({ serverId: server.id, port: 0, host: 'h', store: {} as HistoryStore, head: { v: 1, next: 1000, host: 'other', file: null, at: 0 } });
  console0.chunk(bytes, { offset: 0, file: 'console.log', position: 0, key: '1:2' });
  return {
    history: {
      read: async (s, port, since, limit, waitMs, signal) => {
        if (s.id !== server.id || port !== 0) throw new VmconsoleError('NoConsole', 'no such console');
        await console0.waitFor(since, waitMs, signal);
        return console0.read(since, limit);
      },
      ports: () => [{ port: 0, next: console0.state.next }],
      window: async () => undefined,
    },
    dispose: () => console0.dispose(),
  };
}

/**
 * Client queues behind a closed port: a batch's replies cannot be sent, so it reports none sent
 * (its schema still applies). Sending for real is test/automation's business.
 */
function unreachableClientQueues(): AutomationReplies {
  return new AutomationReplies(new SQSClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } }), new ReplyDestinations([CLIENT_PREFIX]));
}

describe('the request-kind table', () => {
  // console.connect needs something to connect to and a tunnel to dial: a listening socket and the relay's tunnel path.
  let consoleServer: Server;
  let relay: TunnelEndpoint;
  let consoles: ConsoleSessions;
  beforeAll(async () => {
    consoleServer = createServer((socket) => socket.on('error', () => undefined).end('RFB 003.008\n'));
    consoleServer.listen(0, '127.0.0.1');
    await once(consoleServer, 'listening');
    relay = await startTunnelEndpoint();
    consoles = new ConsoleSessions({ relayPrefixes: [relay.prefix], logger: recordingLogger() });
  });
  afterAll(async () => {
    await consoles.stop();
    await relay.close();
    consoleServer.close();
  });

  it.each(Object.keys(REQUEST_KINDS) as RequestKind[])('answers %s with a result its contract schema accepts', async (kind) => {
    const { port } = consoleServer.address() as AddressInfo;
    const driver = new ScriptedDriver(async () => Buffer.from('a\nb\nc\n'), { address: '127.0.0.1', port, tlsPort: null });
    const { history, dispose } = historyHolding(Buffer.from('a\nb\nc\n'));
    const handle = createRequestHandler(driver, { clientReplies: unreachableClientQueues(), consoles, history });
    const request = kind === 'console.connect' ? { ...SAMPLES[kind], port, tunnelUrl: relay.urlFor('kind-table') } : SAMPLES[kind];
    const result = await handle(request as AgentRequest, context());
    dispose();
    expect(REQUEST_KINDS[kind].result.safeParse(result).success).toBe(true);
  });

  it('reads history by offset, byte for byte (invalid UTF-8 too), and says what it holds', async () => {
    const raw = Buffer.from([0x41, 0xff, 0xfe, 0x0a, 0xc3, 0x28, 0x00, 0x1b, 0x5b, 0x6d]);
    const { history, dispose } = historyHolding(raw);
    const handle = createRequestHandler(new ScriptedDriver(async () => raw), { history });
    const all = await handle({ ...SAMPLES['console.read'], since: 1000 }, context());
    expect(all).toMatchObject({ held: 1000, next: 1010, shipped: 1000, offset: 1000 });
    expect(Buffer.from((all as { data: string }).data, 'base64')).toEqual(raw);
    const part = await handle({ ...SAMPLES['console.read'], since: 1003, limit: 4 }, context()) as { offset: number; data: string };
    expect(part.offset).toBe(1003);
    expect(Buffer.from(part.data, 'base64')).toEqual(raw.subarray(3, 7));
    // Older than what the host holds: it answers from what it holds and says where that starts.
    const older = await handle({ ...SAMPLES['console.read'], since: 10, limit: 2 }, context()) as { offset: number; held: number };
    expect(older).toMatchObject({ offset: 1000, held: 1000 });
    dispose();
  });

  it('waits for new bytes past the end, and is woken by them', async () => {
    const console0 = new ConsoleHistory({ serverId: server.id, port: 0, host: 'h', store: {} as HistoryStore, head: undefined });
    const history: Pick<HistoryShipping, 'read' | 'ports' | 'window'> = {
      read: async (_s, _port, since, limit, waitMs, signal) => {
        await console0.waitFor(since, waitMs, signal);
        return console0.read(since, limit);
      },
      ports: () => [],
      window: async () => undefined,
    };
    const handle = createRequestHandler(new ScriptedDriver(async () => Buffer.alloc(0)), { history });
    const started = Date.now();
    const pending = handle({ ...SAMPLES['console.read'], since: 0, waitMs: 5_000 }, context());
    setTimeout(() => console0.chunk(Buffer.from('late line\n'), { offset: 0, file: 'console.log', position: 0, key: '1:2' }), 100);
    const result = await pending as { data: string; next: number };
    expect(Buffer.from(result.data, 'base64').toString()).toBe('late line\n');
    expect(result.next).toBe(10);
    expect(Date.now() - started).toBeLessThan(4_000);
    console0.dispose();
  });

  it('takes the Nova window from history when the log\'s window is its end, else from the log', async () => {
    const log = Buffer.from('boot 2\nlogin:\n');
    const windowFrom = (bytes: Buffer): Pick<HistoryShipping, 'read' | 'ports' | 'window'> => ({
      read: async () => { throw new Error('not asked'); }, ports: () => [], window: async () => bytes,
    });
    const ask = (history: Pick<HistoryShipping, 'read' | 'ports' | 'window'>) =>
      createRequestHandler(new ScriptedDriver(async () => log), { history })({ ...SAMPLES['console.output'], length: null }, context());
    // A reboot wiped the log: history still has boot 1 before it.
    const whole = Buffer.concat([Buffer.from('boot 1\npanic\n'), log]);
    expect(await ask(windowFrom(whole))).toEqual({ output: novaConsoleOutput(whole, null), bytes: whole.length });
    // History that does not end with the log (files put behind the follower's back): Nova's window, from the log.
    expect(await ask(windowFrom(Buffer.from('something else\n')))).toEqual({ output: novaConsoleOutput(log, null), bytes: log.length });
  });

  it('lists every port the driver names with its name, marking the ones history follows', async () => {
    const driver = new ScriptedDriver(async () => Buffer.alloc(0));
    const log = virtlogdRotation('/unused/console.log');
    const withPorts = Object.assign(driver, {
      consoleLogs: async () => [{ port: 0, name: 'ttyS0', log }, { port: 1, name: 'ttyS1', log }, { port: 4, name: 'ttyS4', log }],
    });
    const history: Pick<HistoryShipping, 'read' | 'ports' | 'window'> = {
      read: async () => { throw new Error('not asked'); }, window: async () => undefined, ports: () => [{ port: 0, next: 10 }, { port: 4, next: 7 }],
    };
    expect(await createRequestHandler(withPorts, { history })(SAMPLES['console.ports'], context())).toEqual({ ports: [
      { port: 0, name: 'ttyS0', history: true, next: 10 },
      { port: 1, name: 'ttyS1', history: false, next: null },
      { port: 4, name: 'ttyS4', history: true, next: 7 },
    ] });
    // A driver that names no log set has no consoles.
    expect(await createRequestHandler(new ScriptedDriver(async () => Buffer.alloc(0)), { history })(SAMPLES['console.ports'], context())).toEqual({ ports: [] });
  });

  it('answers console.read NotImplemented on a host that keeps no history', async () => {
    await expect(createRequestHandler(new ScriptedDriver(async () => Buffer.alloc(0)))(SAMPLES['console.read'], context())).rejects.toMatchObject({ code: 'NotImplemented' });
  });

  it('reads console output through the driver with the full window and the request\'s own signal', async () => {
    const driver = new ScriptedDriver(async () => Buffer.from('boot\n'));
    const ctx = context();
    await createRequestHandler(driver)({ ...SAMPLES['console.output'], length: null }, ctx);
    expect(driver.reads).toEqual([{ server, window: MAX_CONSOLE_WINDOW, signal: ctx.signal }]);
  });

  it.each([null, 0, 1, 3, -1, 1_000])('shapes the bytes on the host as Nova does (length %s)', async (length) => {
    const raw = Buffer.from([0x6c, 0x31, 0x0a, 0x6c, 0x32, 0x00, 0xff, 0x0a, 0x1b, 0x5b, 0x6d, 0x6c, 0x33, 0x09, 0x0a, 0x6c, 0x34]);
    const result = await createRequestHandler(new ScriptedDriver(async () => raw))({ ...SAMPLES['console.output'], length }, context());
    expect(result).toEqual({ output: novaConsoleOutput(raw, length), bytes: raw.length });
  });

  it('answers a version 1 console.output as version 1 did: {output} only, which a version 1 edge checks strictly', async () => {
    const raw = Buffer.from('l1\nl2\n');
    const result = await createRequestHandler(new ScriptedDriver(async () => raw))({ ...SAMPLES['console.output'], v: 1, length: null }, context());
    expect(result).toEqual({ output: 'l1\nl2\n' });
  });

  it('passes a driver\'s tenant-safe refusal through, and hides a bare failure behind Internal', async () => {
    const refusal = new VmconsoleError('NoConsole', 'This server has no console log.', { detail: 'no <console> in the domain XML of instance-0000002a' });
    const refused = await createRequestHandler(new ScriptedDriver(() => Promise.reject(refusal)))(SAMPLES['console.output'], context()).catch((err: unknown) => err);
    expect(refused).toBe(refusal);

    const crashed = await createRequestHandler(new ScriptedDriver(() => Promise.reject(new Error('EIO reading /var/lib/nova/instances/x/console.log'))))(SAMPLES['console.output'], context()).catch((err: unknown) => err);
    expect(crashed).toMatchObject({ code: 'Internal', message: 'The request failed on the compute host.', detail: 'EIO reading /var/lib/nova/instances/x/console.log' });
  });

  it('refuses a kind missing from the table as Internal instead of throwing out of the agent', async () => {
    const driver = new ScriptedDriver(async () => Buffer.from('never read'));
    const unknown = { ...SAMPLES['console.output'], kind: 'console.not-yet-invented' } as unknown as AgentRequest;
    const failure = await createRequestHandler(driver)(unknown, context()).catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: 'Internal', message: 'The request failed on the compute host.' });
    expect(driver.reads).toEqual([]);
  });
});

describe('console.output.batch', () => {
  /** Client queues that record what reached them: the handler's other neighbour. */
  function recordingClientQueues() {
    const sent: Array<{ replyTo: string; replies: AutomationReply[]; at: number }> = [];
    return {
      sent,
      prefixes: [CLIENT_PREFIX],
      isAllowed: (url: string) => url.startsWith(CLIENT_PREFIX),
      async send(replyTo: string, replies: readonly AutomationReply[]) {
        sent.push({ replyTo, replies: [...replies], at: Date.now() });
      },
    };
  }
  const batchOf = (count: number): RequestOf<'console.output.batch'> => ({
    v: PROTOCOL_VERSION, kind: 'console.output.batch', total: count, clientRequestId: 'client-7', replyTo: `${CLIENT_PREFIX}7`, length: 1,
    servers: Array.from({ length: count }, (_, i) => ({ server: { ...server, instanceName: `instance-${i}` }, seq: i + 1 })),
  });

  it('answers each server on the client\'s queue, ten per send, with the single request\'s shaping, and reports the seqs sent', async () => {
    const queues = recordingClientQueues();
    const raw = Buffer.from('a\r\nb\n');
    const result = await createRequestHandler(new ScriptedDriver(async () => raw), { clientReplies: queues })(batchOf(23), context());
    expect(result).toEqual({ sent: Array.from({ length: 23 }, (_, i) => i + 1) });
    expect(queues.sent.map((s) => s.replies.length)).toEqual([10, 10, 3]);
    expect(queues.sent[0]!.replies[0]).toEqual({ v: 1, requestId: 'client-7', serverId: server.id, seq: 1, total: 23, ok: true, output: novaConsoleOutput(raw, 1) });
  });

  it('answers a failing server with its tenant-safe error, the others normally', async () => {
    const queues = recordingClientQueues();
    let n = 0;
    const driver = new ScriptedDriver(async () => {
      n += 1;
      if (n === 2) throw new Error('EIO reading /var/lib/nova/instances/x/console.log');
      return Buffer.from('ok\n');
    });
    await createRequestHandler(driver, { clientReplies: queues })(batchOf(3), context());
    expect(queues.sent[0]!.replies.map((r) => (r.ok ? 'ok' : `${r.error.code}: ${r.error.message}`))).toEqual(['ok', 'Internal: The request failed on the compute host.', 'ok']);
  });

  it('answers no server in the last second before the deadline: the router answers those HostTimeout', async () => {
    const queues = recordingClientQueues();
    // Reads take 600 ms; answers stop at 900 ms: 300 ms of slack either way on a busy machine.
    const deadline = Date.now() + 1_900;
    const slow = new ScriptedDriver(() => new Promise((resolve) => setTimeout(() => resolve(Buffer.from('x\n')), 600)));
    const result = await createRequestHandler(slow, { clientReplies: queues })(batchOf(30), { ...context(), deadline });
    // The first ten are read by ~600 ms and sent; the next ten finish at ~1.2 s, after deadline - 1 s, and are not.
    expect(result).toEqual({ sent: Array.from({ length: 10 }, (_, i) => i + 1) });
    for (const { at } of queues.sent) expect(at).toBeLessThan(deadline - 1_000);
  });

  it('refuses a reply queue outside its client prefixes (or any, when none are configured), sending nothing', async () => {
    const queues = recordingClientQueues();
    const driver = new ScriptedDriver(async () => Buffer.from('never read'));
    for (const clientQueues of [queues, undefined]) {
      const failure = await createRequestHandler(driver, { clientReplies: clientQueues })({ ...batchOf(1), replyTo: 'http://127.0.0.1:9/000000000000/elsewhere-1' }, context()).catch((err: unknown) => err);
      expect(failure).toMatchObject({ code: 'Forbidden', message: 'The compute host does not answer this reply queue.' });
    }
    expect(queues.sent).toEqual([]);
    expect(driver.reads).toEqual([]);
  });
});

