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
 */
export const PROTOCOL_VERSION = 2;
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

export const REQUEST_KINDS = {
  'console.output': { request: ConsoleOutputRequest, result: ConsoleOutputResult },
  'console.screenshot': { request: ConsoleScreenshotRequest, result: ConsoleScreenshotResult },
  'console.output.batch': { request: ConsoleOutputBatchRequest, result: ConsoleOutputBatchResult },
} as const;
export type RequestKind = keyof typeof REQUEST_KINDS;
export type RequestOf<K extends RequestKind> = z.infer<(typeof REQUEST_KINDS)[K]['request']>;
export type ResultOf<K extends RequestKind> = z.infer<(typeof REQUEST_KINDS)[K]['result']>;

export const AgentRequest = z.discriminatedUnion('kind', [ConsoleOutputRequest, ConsoleOutputBatchRequest, ConsoleScreenshotRequest]);
export type AgentRequest = z.infer<typeof AgentRequest>;
