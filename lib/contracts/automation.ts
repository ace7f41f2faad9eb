import { z } from 'zod';
import { ERROR_CODES } from '../errors.ts';
import { ConsoleLength } from './console-length.ts';
import { HostName, QueueUrl, ServerId } from './records.ts';

/**
 * Queue-driven automation: the public contract between automation clients and a deployment's
 * request queue (`<service>-<stage>-requests`). These names are the public interface, documented in
 * the README ("Queue-driven automation"); change them only with a new `v`.
 *
 * A request is one SQS message whose body is the JSON of AutomationRequest. Replies arrive on
 * `replyTo`, one message per server, each the JSON of AutomationReply. `seq` runs 1..`total`, so a
 * client knows when its batch is complete although SQS reorders and duplicates: it keeps the FIRST
 * reply per seq. A request that cannot be expanded at all gets one reply with `seq: 0`, `total: 0`,
 * `serverId: null` and the error. How bodies go on the wire is lib/transport/envelope.ts.
 *
 * `length` is Nova's (the Nova API's own schema, lib/nova-api/console-output-request.ts, and its
 * JSON reading: `2.0` is refused as Nova does), and each `output` is exactly what the Nova API
 * answers for that server and length.
 */
export const AUTOMATION_VERSION = 1;
export const MAX_SERVERS_PER_REQUEST = 1000;
/** A request naming 1,000 servers is ~40 KB; anything much bigger is not a request. */
export const MAX_REQUEST_BYTES = 128 * 1024;
export const MAX_REPLY_ERROR_MESSAGE = 1024;

/** The client's id, echoed on every reply and carried to the agents: printable ASCII, no spaces (it is logged). */
export const ClientRequestId = z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters without spaces');

const TARGETS = ['servers', 'project', 'host'] as const;

export const AutomationRequest = z.strictObject({
  v: z.literal(AUTOMATION_VERSION),
  requestId: ClientRequestId,
  replyTo: QueueUrl,
  kind: z.literal('console.output'),
  /** Nova's `length`: null or absent keeps everything. */
  length: ConsoleLength.optional(),
  servers: z.array(ServerId).min(1).max(MAX_SERVERS_PER_REQUEST)
    .refine((ids) => new Set(ids.map((id) => id.toLowerCase())).size === ids.length, 'must not name a server twice')
    .optional(),
  project: z.string().min(1).max(255).optional(),
  host: HostName.optional(),
  /**
   * A bearer token scoping the request to its project, as on the HTTP API; none acts for the
   * operators. Its size and validity are authentication's to judge (lib/auth), as for HTTP.
   */
  token: z.string().min(1).optional(),
}).refine((r) => TARGETS.filter((t) => r[t] !== undefined).length === 1, { message: 'exactly one of servers, project, host is required', path: ['servers'] });
export type AutomationRequest = z.output<typeof AutomationRequest>;

export const AutomationReplyError = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: z.string().max(MAX_REPLY_ERROR_MESSAGE),
});

const ReplyCommon = {
  v: z.literal(AUTOMATION_VERSION),
  requestId: ClientRequestId,
  /** null only on the single reply to a request that could not be expanded (`total: 0`). */
  serverId: ServerId.nullable(),
  seq: z.number().int().min(0).max(MAX_SERVERS_PER_REQUEST),
  total: z.number().int().min(0).max(MAX_SERVERS_PER_REQUEST),
};
export const AutomationReply = z.discriminatedUnion('ok', [
  z.strictObject({ ...ReplyCommon, ok: z.literal(true), output: z.string() }),
  z.strictObject({ ...ReplyCommon, ok: z.literal(false), error: AutomationReplyError }),
]);
export type AutomationReply = z.infer<typeof AutomationReply>;
export type AutomationReplyError = z.infer<typeof AutomationReplyError>;

/** The first problem of a refused request, as the client reads it: `servers: must not name a server twice`. */
export function requestProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid request';
  const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return `${where}${issue.message}`.slice(0, 300);
}

/** The `replyTo` of a body that may be invalid otherwise: where its refusal can still be sent. */
export function usableReplyTo(body: unknown): string | undefined {
  const replyTo = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).replyTo : undefined;
  return QueueUrl.safeParse(replyTo).success ? (replyTo as string) : undefined;
}

/** The client's `requestId` of a body that may be invalid otherwise, for its refusal and the log. */
export function usableRequestId(body: unknown): string | undefined {
  const id = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).requestId : undefined;
  return ClientRequestId.safeParse(id).success ? (id as string) : undefined;
}
