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
 */
export const PROTOCOL_VERSION = 3;
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

export const REQUEST_KINDS = {
  'console.output': { request: ConsoleOutputRequest, result: ConsoleOutputResult },
  'console.screenshot': { request: ConsoleScreenshotRequest, result: ConsoleScreenshotResult },
  'console.output.batch': { request: ConsoleOutputBatchRequest, result: ConsoleOutputBatchResult },
  'console.endpoint': { request: ConsoleEndpointRequest, result: ConsoleEndpointResult },
  'console.connect': { request: ConsoleConnectRequest, result: ConsoleConnectResult },
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
};

export const AgentRequest = z.discriminatedUnion('kind', [ConsoleOutputRequest, ConsoleOutputBatchRequest, ConsoleScreenshotRequest, ConsoleEndpointRequest, ConsoleConnectRequest]);
export type AgentRequest = z.infer<typeof AgentRequest>;
