import { z } from 'zod';
import { ClientRequestId, MAX_SERVERS_PER_REQUEST } from './automation.ts';
import { QueueUrl, ServerId } from './records.ts';

/**
 * The request bodies of the wire contract between a requester (the edge, automation clients) and
 * a host agent. How they travel (message attributes, deadline, replies, error caps) is the
 * envelope: lib/transport/envelope.ts.
 *
 * Each request kind is one entry below (request schema + result schema). Adding a capability
 * (remote console connection info, ...) means adding a kind here and a handler in lib/agent; the
 * requester asks for it through askHost (lib/transport/ask-host.ts), which checks the result.
 */
/**
 * Protocol versions, the one place they are defined. A build speaks every version from
 * MIN_PROTOCOL_VERSION to PROTOCOL_VERSION: an agent accepts a request in any of them and replies
 * in the request's version; the edge sends each host the highest version both speak (the host's
 * record says which it speaks; a record without them is an agent from before versions were
 * advertised, which speaks 1 only). So edge and agents can be upgraded in either order, one
 * release at a time (README, "Upgrading").
 *
 * - 1: the first protocol.
 * - 2: a console.output result also carries `bytes`, the size of the raw window the agent read
 *   (before decoding and the `length` cut), for the edge's metrics. Nothing else changed.
 * - 3: the remote-console kinds console.endpoint and console.connect. Kinds added by a version are
 *   sent only to hosts that speak it (KIND_SINCE); the earlier kinds are unchanged.
 * - 4: console history (lib/history): console.read (a console's bytes by history offset, with a
 *   long poll) and console.ports (the consoles a server has). Earlier kinds are unchanged.
 */
export const PROTOCOL_VERSION = 4;
export const MIN_PROTOCOL_VERSION = 1;
export const ProtocolVersion = z.number().int().min(MIN_PROTOCOL_VERSION).max(PROTOCOL_VERSION);
export const MAX_CONSOLE_WINDOW = 102_400;

/** Every body carries the protocol version: an agent refuses a version it does not speak. */
const Versioned = { v: ProtocolVersion };

/** What the agent needs to find a server on its host, copied from the directory record. */
export const ServerRef = z.object({
  id: ServerId,
  instanceName: z.string().min(1).max(255),
});
export type ServerRef = z.infer<typeof ServerRef>;

export const ConsoleOutputRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.output'),
  server: ServerRef,
  /** Already validated and normalised by the edge: null keeps everything. */
  length: z.number().int().min(-1).nullable(),
});
/** `bytes` from version 2 (absent in a version 1 reply, which an old edge checks strictly). */
export const ConsoleOutputResult = z.strictObject({ output: z.string(), bytes: z.number().int().min(0).max(MAX_CONSOLE_WINDOW).optional() });

/** The most servers one console.output.batch request carries: a host gets a large batch in chunks. */
export const MAX_BATCH_CHUNK = 50;

/**
 * Part of an automation request (lib/contracts/automation.ts) for the servers of one host. The
 * agent sends one AutomationReply per server straight to the client's `replyTo` (allowed only under
 * its client reply prefixes), numbered with the `seq` given here, and answers the envelope's
 * replyTo (the router) with the seqs it answered. It answers no server after the envelope's
 * deadline: the router answers the rest HostTimeout then.
 */
export const ConsoleOutputBatchRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.output.batch'),
  servers: z.array(z.strictObject({ server: ServerRef, seq: z.number().int().min(1).max(MAX_SERVERS_PER_REQUEST) })).min(1).max(MAX_BATCH_CHUNK),
  total: z.number().int().min(1).max(MAX_SERVERS_PER_REQUEST),
  clientRequestId: ClientRequestId,
  replyTo: QueueUrl,
  length: z.number().int().min(-1).nullable(),
});
/** The seqs whose reply the agent sent to the client. */
export const ConsoleOutputBatchResult = z.strictObject({ sent: z.array(z.number().int().min(1).max(MAX_SERVERS_PER_REQUEST)).max(MAX_BATCH_CHUNK) });

/** A PNG of at most this many bytes travels back (base64: a third more); a larger screen is refused. */
export const MAX_SCREENSHOT_PNG_BYTES = 512 * 1024;

/**
 * The server's screen now (crash diagnostics, for guests with graphics). `image` is a base64 PNG,
 * null when the guest has no screen (no graphics device, or a driver without screens): not an error.
 */
export const ConsoleScreenshotRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.screenshot'),
  server: ServerRef,
});
export const ConsoleScreenshotResult = z.strictObject({
  image: z.string().max(Math.ceil(MAX_SCREENSHOT_PNG_BYTES / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/).nullable(),
  contentType: z.literal('image/png').nullable(),
});

/** The remote consoles Nova names (its console `protocol`): VNC and SPICE graphics, interactive serial. */
export const RemoteConsoleProtocol = z.enum(['vnc', 'spice', 'serial']);
export type RemoteConsoleProtocol = z.infer<typeof RemoteConsoleProtocol>;
const Port = z.number().int().min(0).max(65535);

/**
 * Where the server's remote console of `protocol` listens now, as its token binds it (Nova's
 * get_vnc_console / get_spice_console / get_serial_console): the port read from the live domain
 * (libvirt's autoport fills it in at start), and SPICE's TLS port when it has one. The edge mints
 * a token for it; the host is the server's host record. NoConsole when the server has no console
 * of that protocol (Nova's ConsoleTypeUnavailable), NotImplemented when the driver cannot serve it.
 */
export const ConsoleEndpointRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.endpoint'),
  server: ServerRef,
  protocol: RemoteConsoleProtocol,
});
export const ConsoleEndpointResult = z.strictObject({ port: Port, tlsPort: Port.nullable() });

/**
 * A ws:// or wss:// URL a relay gave for one session's tunnel. The agent dials it only when it is
 * under the agent's relay prefixes (VMCONSOLE_RELAY_URL_PREFIXES), as it answers only allowed
 * reply queues; the signed, short-lived tunnel id is part of the URL and only the relay checks it.
 */
export const TunnelUrl = z.string().max(2048).regex(/^wss?:\/\/[^\s]+$/, 'must be a ws:// or wss:// URL');

/**
 * Open one remote-console session: the agent re-checks that `port` is still the server's current
 * console port of `protocol` (Nova's validate_console_port: a token minted before a migration or
 * restart must not reach another guest), connects to that server's own endpoint as the live domain
 * gives it (never a host:port from the request), dials `tunnelUrl`, and splices the two until
 * either side closes. It answers once the tunnel is open, or with the reason it is not:
 * NoConsole (no such console, or `port` is no longer the server's), Forbidden (tunnel URL not
 * allowed), HostTimeout/Internal (endpoint or relay unreachable).
 */
export const ConsoleConnectRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.connect'),
  server: ServerRef,
  protocol: RemoteConsoleProtocol,
  port: Port,
  tunnelUrl: TunnelUrl,
});
export const ConsoleConnectResult = z.strictObject({ connected: z.literal(true) });

/** A server's serial ports with a log: libvirt's `<serial>` ports, Hyper-V's COM1 (0) and COM2 (1). */
export const ConsolePort = z.number().int().min(0).max(31);
/** Bytes one console.read carries at most: 256 KiB is 342 KiB of base64, well inside one SQS message. */
export const MAX_READ_BYTES = 256 * 1024;
/** The longest a console.read waits for new bytes (the API's `wait`, at most 20 s as an SQS long poll). */
export const MAX_READ_WAIT_MS = 20_000;
/** History offsets are JSON numbers: below 2^53, far beyond any console (8 PiB). */
const HistoryOffset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * The bytes of one console of a server from `since` on, at most `limit`, by history offset (one
 * sequence per console across rotations, reboots and hosts: lib/history). The agent answers from
 * what it holds (the bytes it has followed and not yet dropped after shipping); when `since` is at
 * or past what it holds and `waitMs` > 0 it waits that long for new output (its log follower
 * wakes it: no polling). NoConsole for a port without a log; NotImplemented when the host keeps no
 * history (VMCONSOLE_HISTORY_BUCKET unset).
 */
export const ConsoleReadRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.read'),
  server: ServerRef,
  port: ConsolePort,
  since: HistoryOffset,
  limit: z.number().int().min(1).max(MAX_READ_BYTES),
  waitMs: z.number().int().min(0).max(MAX_READ_WAIT_MS),
});
/**
 * `held`..`next`: the offsets the host holds now (`next` is the next byte the console will get);
 * `shipped`: bytes before it are in S3. `offset` is the first byte of `data` (base64): `since`
 * when the host holds it, else the nearer end of what it holds (the edge reads the rest from S3).
 */
export const ConsoleReadResult = z.strictObject({
  held: HistoryOffset,
  next: HistoryOffset,
  shipped: HistoryOffset,
  offset: HistoryOffset,
  data: z.string().max(Math.ceil(MAX_READ_BYTES / 3) * 4).regex(/^[A-Za-z0-9+/]*={0,2}$/),
});

/** The consoles of a server that have a log (each readable with console.read). */
export const ConsolePortsRequest = z.strictObject({
  ...Versioned,
  kind: z.literal('console.ports'),
  server: ServerRef,
});
export const ConsolePortsResult = z.strictObject({
  ports: z.array(z.strictObject({
    port: ConsolePort,
    /** The device as the guest sees it, when the driver knows (ttyS0, COM1). */
    name: z.string().max(64).nullable(),
    /** Whether the host keeps this console's history (follows and ships it). */
    history: z.boolean(),
    /** The history offset of the console's next byte, when it is followed. */
    next: HistoryOffset.nullable(),
  })).max(32),
});

export const REQUEST_KINDS = {
  'console.output': { request: ConsoleOutputRequest, result: ConsoleOutputResult },
  'console.screenshot': { request: ConsoleScreenshotRequest, result: ConsoleScreenshotResult },
  'console.output.batch': { request: ConsoleOutputBatchRequest, result: ConsoleOutputBatchResult },
  'console.endpoint': { request: ConsoleEndpointRequest, result: ConsoleEndpointResult },
  'console.connect': { request: ConsoleConnectRequest, result: ConsoleConnectResult },
  'console.read': { request: ConsoleReadRequest, result: ConsoleReadResult },
  'console.ports': { request: ConsolePortsRequest, result: ConsolePortsResult },
} as const;
export type RequestKind = keyof typeof REQUEST_KINDS;
export type RequestOf<K extends RequestKind> = z.infer<(typeof REQUEST_KINDS)[K]['request']>;
export type ResultOf<K extends RequestKind> = z.infer<(typeof REQUEST_KINDS)[K]['result']>;

/**
 * The protocol version that added each kind after version 1: a host whose agent speaks less is
 * refused the kind at the edge (HostIncompatible) instead of being sent a request it cannot parse.
 */
export const KIND_SINCE: Partial<Record<RequestKind, number>> = {
  'console.endpoint': 3,
  'console.connect': 3,
  'console.read': 4,
  'console.ports': 4,
};

export const AgentRequest = z.discriminatedUnion('kind', [ConsoleOutputRequest, ConsoleOutputBatchRequest, ConsoleScreenshotRequest, ConsoleEndpointRequest, ConsoleConnectRequest, ConsoleReadRequest, ConsolePortsRequest]);
export type AgentRequest = z.infer<typeof AgentRequest>;
