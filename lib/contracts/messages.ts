import { z } from 'zod';
import { ServerId } from './records.ts';

/**
 * The request bodies of the wire contract between a requester (the edge, automation clients) and
 * a host agent. How they travel (message attributes, deadline, replies, error caps) is the
 * envelope: lib/transport/envelope.ts.
 *
 * Each request kind is one entry below (request schema + result schema). Adding a capability
 * (remote console connection info, ...) means adding a kind here and a handler in lib/agent; the
 * requester asks for it through askHost (lib/transport/ask-host.ts), which checks the result.
 */
export const PROTOCOL_VERSION = 1;
export const MAX_CONSOLE_WINDOW = 102_400;

/** Every body carries the protocol version: an agent refuses a version it does not speak. */
const Versioned = { v: z.literal(PROTOCOL_VERSION) };

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
export const ConsoleOutputResult = z.strictObject({ output: z.string() });

export const REQUEST_KINDS = {
  'console.output': { request: ConsoleOutputRequest, result: ConsoleOutputResult },
} as const;
export type RequestKind = keyof typeof REQUEST_KINDS;
export type RequestOf<K extends RequestKind> = z.infer<(typeof REQUEST_KINDS)[K]['request']>;
export type ResultOf<K extends RequestKind> = z.infer<(typeof REQUEST_KINDS)[K]['result']>;

export const AgentRequest = z.discriminatedUnion('kind', [ConsoleOutputRequest]);
export type AgentRequest = z.infer<typeof AgentRequest>;
