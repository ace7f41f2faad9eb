import { AUTOMATION_VERSION, type AutomationReply } from '../contracts/automation.ts';
import { MAX_CONSOLE_WINDOW, MAX_SCREENSHOT_PNG_BYTES, PROTOCOL_VERSION, type AgentRequest, type RequestKind, type RequestOf, type ResultOf } from '../contracts/messages.ts';
import { connectableAddress } from '../console/console-address.ts';
import { screenshotToPng } from '../console/screenshot-png.ts';
import { shapeConsoleOutput } from '../console/shape-console-output.ts';
import { TENANT_TEXT, tenantSafe, VmconsoleError } from '../errors.ts';
import type { ConsoleEndpoint, HypervisorDriver, ServerHandle } from '../hypervisors/driver.ts';
import { consoleLogsOf } from '../hypervisors/console-logs.ts';
import type { AutomationReplies } from '../transport/automation-replies.ts';
import type { RequestHandler } from '../transport/responder.ts';
import type { ConsoleSessions } from './console-sessions.ts';
import type { HistoryShipping } from './ship-history.ts';

/** What a kind's handler may use besides its request. */
interface HandlerContext {
  driver: HypervisorDriver;
  signal: AbortSignal;
  /** Epoch ms: the request's deadline. */
  deadline: number;
  /** Sends automation replies to clients' queues (console.output.batch); absent when not configured. */
  clientReplies: ClientReplies | undefined;
  /** Remote-console sessions (console.connect); absent when the agent dials no relay. */
  consoles: ConsoleSessions | undefined;
  requestId: string;
  /** Console history (protocol 4); absent when the host keeps none (VMCONSOLE_HISTORY_BUCKET unset). */
  history: Pick<HistoryShipping, 'read' | 'ports' | 'window'> | undefined;
}
/** What a batch needs of lib/transport/automation-replies.ts: the allow-list and the sender. */
export type ClientReplies = Pick<AutomationReplies, 'isAllowed' | 'send' | 'prefixes'>;
type KindHandler<K extends RequestKind> = (request: RequestOf<K>, context: HandlerContext) => Promise<ResultOf<K>>;

/**
 * A batch stops answering servers this long before its deadline, so its summary (which seqs were
 * answered) reaches the router before the router answers the rest HostTimeout: a late ok never
 * races a HostTimeout for the same seq.
 */
export const BATCH_SUMMARY_MARGIN_MS = 1_000;
/** Servers of a batch read at once, and sent to the client in one SendMessageBatch. */
const BATCH_GROUP = 10;

const consoleOutput: KindHandler<'console.output'> = async (request, { driver, signal, history }) => {
  // With console history the window is the end of the server's whole history, so a reboot
  // (append='off') or a migration no longer empties it, but only when the log's own window is the
  // end of that history: files put into the log set behind the follower's back, skipped bytes or a
  // write between the two reads make them differ, and the log's window (Nova's) is answered then.
  // Hyper-V's collector flushes its writer on a driver read only, so its window stays the driver's.
  const fromHistory = history && driver.kind !== 'hyperv' ? await history.window(request.server, MAX_CONSOLE_WINDOW, signal) : undefined;
  const fromLog = await driver.readConsoleLog(request.server, MAX_CONSOLE_WINDOW, signal);
  const raw = fromHistory && endsWith(fromHistory, fromLog) ? fromHistory : fromLog;
  // Truncation and decoding happen here, on the host, so only the window travels back.
  const output = shapeConsoleOutput(raw, request.length);
  // Version 1 results are {output} only: an edge that speaks 1 checks them strictly.
  return request.v >= 2 ? { output, bytes: raw.length } : { output };
};

function endsWith(whole: Buffer, tail: Buffer): boolean {
  return whole.length >= tail.length && whole.subarray(whole.length - tail.length).equals(tail);
}

/** The screen as PNG (drivers return what the hypervisor gives; the agent converts), or none. */
const consoleScreenshot: KindHandler<'console.screenshot'> = async (request, { driver, signal }) => {
  const shot = await driver.screenshot?.(request.server, signal);
  if (!shot) return { image: null, contentType: null };
  const png = screenshotToPng(shot.bytes);
  if (png.length > MAX_SCREENSHOT_PNG_BYTES) {
    throw new VmconsoleError('Internal', 'The screenshot is too large to send.', { detail: `PNG of ${png.length} bytes (at most ${MAX_SCREENSHOT_PNG_BYTES})` });
  }
  return { image: png.toString('base64'), contentType: 'image/png' };
};

/**
 * A chunk of an automation request: each server's output (the same handler and shaping as a single
 * request, so the same bytes as the Nova API) goes straight to the client's queue, ten per send;
 * the router only hears which seqs were sent.
 */
const consoleOutputBatch: KindHandler<'console.output.batch'> = async (request, context) => {
  const { clientReplies, deadline, signal } = context;
  if (!clientReplies?.isAllowed(request.replyTo)) {
    throw new VmconsoleError('Forbidden', 'The compute host does not answer this reply queue.', {
      detail: `replyTo ${request.replyTo.slice(0, 200)} is not under the agent's client reply prefixes (VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: ${clientReplies?.prefixes.join(', ') || 'none'})`,
    });
  }
  const answerBy = deadline - BATCH_SUMMARY_MARGIN_MS;
  const sent: number[] = [];
  for (let i = 0; i < request.servers.length; i += BATCH_GROUP) {
    if (Date.now() >= answerBy || signal.aborted) break;
    const group = request.servers.slice(i, i + BATCH_GROUP);
    const replies = await Promise.all(group.map(async ({ server, seq }): Promise<AutomationReply> => {
      const common = { v: AUTOMATION_VERSION, requestId: request.clientRequestId, serverId: server.id, seq, total: request.total } as const;
      try {
        const { output } = await consoleOutput({ v: PROTOCOL_VERSION, kind: 'console.output', server, length: request.length }, context);
        return { ...common, ok: true, output };
      } catch (err) {
        const { code, message } = tenantSafe(err);
        return { ...common, ok: false, error: { code, message } };
      }
    }));
    if (Date.now() >= answerBy) break;
    try {
      await clientReplies.send(request.replyTo, replies, signal);
    } catch {
      // The client's queue refused (gone, throttled): the seqs not reported as sent are answered by
      // the router, which can say so; trying more of them here would fail the same way.
      break;
    }
    sent.push(...group.map((s) => s.seq));
  }
  return { sent };
};

const PROTOCOL_NAMES = { vnc: 'VNC', spice: 'SPICE', serial: 'serial' } as const;

/** Where the server's console of `protocol` listens now, or the reason there is none. */
async function currentEndpoint(driver: HypervisorDriver, server: ServerHandle, protocol: RequestOf<'console.endpoint'>['protocol'], signal: AbortSignal): Promise<ConsoleEndpoint> {
  if (!driver.consoleEndpoint) {
    throw new VmconsoleError('NotImplemented', TENANT_TEXT.NotImplemented, { detail: `the ${driver.kind} driver serves no remote consoles` });
  }
  const endpoint = await driver.consoleEndpoint(server, protocol, signal);
  if (!endpoint) {
    throw new VmconsoleError('NoConsole', `This server has no ${PROTOCOL_NAMES[protocol]} console now.`, {
      detail: `server ${server.id} (${server.instanceName}) has no ${protocol} console listening (none configured, or not running)`,
    });
  }
  return endpoint;
}

/** Nova's get_*_console on the compute side: the port the token will be bound to. */
const consoleEndpoint: KindHandler<'console.endpoint'> = async (request, { driver, signal }) => {
  const { port, tlsPort } = await currentEndpoint(driver, request.server, request.protocol, signal);
  return { port, tlsPort };
};

/**
 * One remote-console session. The port is checked again against the live domain first (Nova's
 * validate_console_port): a token minted before a migration or a restart must not reach whatever
 * listens on that port now. What is connected to comes from the domain, never from the request.
 */
const consoleConnect: KindHandler<'console.connect'> = async (request, { driver, signal, consoles, requestId }) => {
  if (!consoles || !consoles.isAllowedTunnel(request.tunnelUrl)) {
    throw new VmconsoleError('Forbidden', 'The compute host does not dial this console relay.', {
      detail: `tunnelUrl ${request.tunnelUrl.slice(0, 200)} is not under the agent's relay prefixes (VMCONSOLE_RELAY_URL_PREFIXES: ${consoles?.prefixes.join(', ') || 'none: remote consoles refused'})`,
    });
  }
  const { server, protocol, port } = request;
  const endpoint = await currentEndpoint(driver, server, protocol, signal);
  if (endpoint.port !== port) {
    throw new VmconsoleError('NoConsole', 'The console this token was issued for is no longer this server\'s: request a new console.', {
      detail: `server ${server.id} ${protocol} console listens on port ${endpoint.port} now, the token names ${port}`,
    });
  }
  const stream = protocol === 'serial' ? endpoint.stream : undefined;
  if (stream) {
    // The driver reaches this console itself (Hyper-V's COM pipe): the same console is the same stream.
    const verify = async () => {
      const now = await driver.consoleEndpoint!(server, protocol).catch(() => undefined);
      return now !== undefined && now.port === port && now.stream?.id === stream.id;
    };
    await consoles.start({ requestId, serverId: server.id, protocol, host: stream.id, port, open: () => stream.open(), tunnelUrl: request.tunnelUrl, verify, signal });
    return { connected: true };
  }
  const host = connectableAddress(endpoint.address);
  const verify = async () => {
    const now = await driver.consoleEndpoint!(server, protocol).catch(() => undefined);
    return now !== undefined && now.port === port && connectableAddress(now.address) === host;
  };
  await consoles.start({ requestId, serverId: server.id, protocol, host, port, tunnelUrl: request.tunnelUrl, verify, signal });
  return { connected: true };
};

/** A console's bytes by history offset, waiting for new ones through the follower (never polling). */
const consoleRead: KindHandler<'console.read'> = async (request, { history, signal, deadline }) => {
  if (!history) throw new VmconsoleError('NotImplemented', 'The compute host of this server keeps no console history.', { detail: 'VMCONSOLE_HISTORY_BUCKET is not set on this agent' });
  // The wait ends in time for the reply to reach the edge before its deadline.
  const waitMs = Math.max(0, Math.min(request.waitMs, deadline - Date.now() - 1_000));
  const { data, ...offsets } = await history.read(request.server, request.port, request.since, request.limit, waitMs, signal);
  return { ...offsets, data: data.toString('base64') };
};

/** The consoles a server has a log for: the driver says which there are, history which it follows. */
const consolePorts: KindHandler<'console.ports'> = async (request, { driver, history, signal }) => {
  const logs = await consoleLogsOf(driver, request.server, signal);
  const followed = new Map((history?.ports(request.server) ?? []).map((p) => [p.port, p.next]));
  return { ports: logs.map(({ port, name }) => ({ port, name, history: followed.has(port), next: followed.get(port) ?? null })) };
};

/** One entry per request kind: the agent's table of contents. */
const HANDLERS: { [K in RequestKind]: KindHandler<K> } = {
  'console.output': consoleOutput,
  'console.output.batch': consoleOutputBatch,
  'console.screenshot': consoleScreenshot,
  'console.endpoint': consoleEndpoint,
  'console.connect': consoleConnect,
  'console.read': consoleRead,
  'console.ports': consolePorts,
};

/** What a host's handler serves besides its driver; each absent when the host is not configured for it. */
export interface HandlerServices {
  clientReplies?: ClientReplies;
  consoles?: ConsoleSessions;
  history?: HandlerContext['history'];
}

/** The agent's request handler: the kind's handler, given the request's deadline as an AbortSignal. */
export function createRequestHandler(driver: HypervisorDriver, { clientReplies, consoles, history }: HandlerServices = {}): RequestHandler {
  return async (request: AgentRequest, { signal, deadline, requestId }) => {
    try {
      return await (HANDLERS[request.kind] as KindHandler<typeof request.kind>)(request, { driver, signal, deadline, clientReplies, consoles, history, requestId });
    } catch (err) {
      throw tenantSafe(err);
    }
  };
}
