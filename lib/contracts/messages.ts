import { z } from 'zod';
import { ERROR_CODES } from '../errors.ts';
import { ServerId } from './records.ts';

/**
 * The wire contract between the edge (or any other requester) and a host agent.
 *
 * A request travels on the host's queue as a JSON body plus three message attributes:
 *   correlationId (String)  echoed on the reply, the only way a requester matches replies
 *   replyTo       (String)  the queue URL to answer on; the agent only answers allowed prefixes
 *   deadline      (Number)  epoch milliseconds after which nobody waits for the answer any more
 * Replies carry the correlationId attribute and a body of AgentReply.
 *
 * Each request kind is one entry below (request schema + result schema). Adding a capability
 * (remote console connection info, ...) means adding a kind here and a handler in lib/agent.
 */
export const PROTOCOL_VERSION = 1;
export const MAX_CONSOLE_WINDOW = 102_400;

export const ATTR = {
  correlationId: 'correlationId',
  replyTo: 'replyTo',
  deadline: 'deadline',
} as const;

const Envelope = { v: z.literal(PROTOCOL_VERSION) };

/** What the agent needs to find a server on its host, copied from the directory record. */
export const ServerRef = z.object({
  id: ServerId,
  instanceName: z.string().min(1).max(255),
});
export type ServerRef = z.infer<typeof ServerRef>;

export const ConsoleOutputRequest = z.strictObject({
  ...Envelope,
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

export const AgentReply = z.discriminatedUnion('ok', [
  z.strictObject({ ...Envelope, ok: z.literal(true), result: z.unknown() }),
  z.strictObject({
    ...Envelope,
    ok: z.literal(false),
    error: z.strictObject({ code: z.enum(ERROR_CODES), message: z.string().max(4096) }),
  }),
]);
export type AgentReply = z.infer<typeof AgentReply>;
