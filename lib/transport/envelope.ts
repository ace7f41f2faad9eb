import type { Message, MessageAttributeValue } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { AutomationReply, AutomationRequest, MAX_REQUEST_BYTES, requestProblem, usableReplyTo, usableRequestId } from '../contracts/automation.ts';
import { AgentRequest, PROTOCOL_VERSION, ProtocolVersion } from '../contracts/messages.ts';
import { parseJsonText } from '../contracts/nova-json.ts';
import { ERROR_CODES, tenantSafe } from '../errors.ts';

/**
 * The envelope: how a request and its reply travel over SQS. This is a public contract: the HTTP
 * edge and, next, automation clients send these requests and receive these replies. Nothing else
 * in the codebase reads or writes message attributes.
 *
 * A request is an SQS message whose body is the JSON of one request kind (lib/contracts/messages.ts,
 * which carries the protocol version `v` and the `kind`) and whose message attributes are:
 *
 *   correlationId  String  1-128 printable ASCII characters, chosen by the requester and echoed on
 *                          the reply: the only way a requester matches a reply to its request.
 *   replyTo        String  the queue URL to answer on. An agent answers only URLs under one of its
 *                          allowed reply destination prefixes (lib/transport/queue-naming.ts).
 *   deadline       Number  epoch milliseconds, an integer, after which nobody waits for the answer:
 *                          the agent drops a request received after it, aborts the work at it and
 *                          does not reply late. A deadline further ahead than MAX_WAIT_MS is refused.
 *   requestId      String  1-128 printable ASCII characters: the id an operator greps for (the edge's
 *                          `req-<uuid>`); the agent logs failures with it.
 *
 * A message that breaks any of these rules is poison: never answered nor deleted, so SQS moves it to
 * the host's dead-letter queue after a few receives.
 *
 * A reply is an SQS message with the `correlationId` attribute (same rules) and a JSON body:
 *   { "v": <the request's v>, "ok": true,  "result": <the kind's result> }
 *   { "v": <the request's v>, "ok": false, "error": { "code": <catalogue code>, "message": <tenant-safe text, at most
 *     MAX_ERROR_MESSAGE characters>, "detail"?: <operator detail, at most MAX_ERROR_DETAIL> } }
 *
 * Queue-driven automation (lib/contracts/automation.ts) is encoded here too, so every byte vmconsole
 * puts on or takes off a queue goes through this one module: a client's request is a bare JSON body
 * (no attributes: any SQS client, the AWS CLI included, can send one), and so is each per-server
 * reply, which the router and the agents both send.
 */

export const ATTRIBUTE = {
  correlationId: 'correlationId',
  replyTo: 'replyTo',
  deadline: 'deadline',
  requestId: 'requestId',
} as const;

/** The longest a requester may ask an agent to keep working for it; anything beyond is poison. */
export const MAX_WAIT_MS = 5 * 60_000;
export const MAX_ID_LENGTH = 128;
export const MAX_ERROR_MESSAGE = 1024;
export const MAX_ERROR_DETAIL = 4096;

/** Printable ASCII, no spaces: nothing that can forge a log line or hide in a terminal. */
const ID = /^[\x21-\x7e]{1,128}$/;

const ReplyError = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: z.string().max(MAX_ERROR_MESSAGE),
  detail: z.string().max(MAX_ERROR_DETAIL).optional(),
});
export const AgentReply = z.discriminatedUnion('ok', [
  z.strictObject({ v: ProtocolVersion, ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ v: ProtocolVersion, ok: z.literal(false), error: ReplyError }),
]);
export type AgentReply = z.infer<typeof AgentReply>;
export type ReplyErrorBody = z.infer<typeof ReplyError>;

/** What SendMessage needs, and what ReceiveMessage gives back. */
export interface WireMessage {
  MessageBody: string;
  MessageAttributes: Record<string, MessageAttributeValue>;
}
export type ReceivedMessage = Pick<Message, 'Body' | 'MessageAttributes'>;

export interface RequestEnvelope {
  request: AgentRequest;
  correlationId: string;
  replyTo: string;
  /** Epoch ms. */
  deadline: number;
  requestId: string;
}

/** Why an agent would refuse these attributes as poison, checked before sending; undefined if none. */
export function requestAttributeProblem({ correlationId, requestId, deadline }: Pick<RequestEnvelope, 'correlationId' | 'requestId' | 'deadline'>, now = Date.now()): string | undefined {
  if (!ID.test(correlationId)) return 'correlationId: not 1-128 printable ASCII characters without spaces';
  if (!ID.test(requestId)) return 'requestId: not 1-128 printable ASCII characters without spaces';
  if (!Number.isSafeInteger(deadline) || deadline < 0) return 'deadline: not epoch milliseconds';
  if (deadline > now + MAX_WAIT_MS) return `deadline: more than ${MAX_WAIT_MS} ms ahead`;
  return undefined;
}

export function encodeRequest({ request, correlationId, replyTo, deadline, requestId }: RequestEnvelope): WireMessage {
  return {
    MessageBody: JSON.stringify(request),
    MessageAttributes: {
      [ATTRIBUTE.correlationId]: { DataType: 'String', StringValue: correlationId },
      [ATTRIBUTE.replyTo]: { DataType: 'String', StringValue: replyTo },
      [ATTRIBUTE.deadline]: { DataType: 'Number', StringValue: String(deadline) },
      [ATTRIBUTE.requestId]: { DataType: 'String', StringValue: requestId },
    },
  };
}

export interface RequestRules {
  isAllowedReplyDestination(url: string): boolean;
  /** The newest version this agent speaks (PROTOCOL_VERSION unless pinned lower); newer requests are poison. */
  protocolMax?: number;
  now?: number;
  maxWaitMs?: number;
}

/** A request, or why it is poison (with whatever ids could be read, for the operator's log). */
export type DecodedRequest =
  | ({ ok: true } & RequestEnvelope)
  | { ok: false; reason: string; correlationId?: string; requestId?: string };

export function decodeRequest(message: ReceivedMessage, rules: RequestRules): DecodedRequest {
  const attrs = message.MessageAttributes ?? {};
  const correlationId = idAttribute(attrs, ATTRIBUTE.correlationId);
  const requestId = idAttribute(attrs, ATTRIBUTE.requestId);
  const known = {
    ...(typeof correlationId === 'string' && { correlationId }),
    ...(typeof requestId === 'string' && { requestId }),
  };
  const poison = (reason: string): DecodedRequest => ({ ok: false, reason, ...known });
  if (typeof correlationId !== 'string') return poison(`correlationId: ${correlationId.problem}`);
  if (typeof requestId !== 'string') return poison(`requestId: ${requestId.problem}`);

  const replyTo = stringAttribute(attrs, ATTRIBUTE.replyTo, 'String');
  if (typeof replyTo !== 'string') return poison(`replyTo: ${replyTo.problem}`);
  if (!rules.isAllowedReplyDestination(replyTo)) return poison(`replyTo: not an allowed reply destination: ${printable(replyTo)}`);

  const deadlineText = stringAttribute(attrs, ATTRIBUTE.deadline, 'Number');
  if (typeof deadlineText !== 'string') return poison(`deadline: ${deadlineText.problem}`);
  const deadline = /^\d{1,16}$/.test(deadlineText) ? Number(deadlineText) : NaN;
  if (!Number.isSafeInteger(deadline)) return poison(`deadline: not epoch milliseconds: ${printable(deadlineText)}`);
  const latest = (rules.now ?? Date.now()) + (rules.maxWaitMs ?? MAX_WAIT_MS);
  if (deadline > latest) return poison(`deadline: ${deadline} is more than ${rules.maxWaitMs ?? MAX_WAIT_MS} ms ahead`);

  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch {
    return poison('body: not JSON');
  }
  const parsed = AgentRequest.safeParse(body);
  if (!parsed.success) return poison(`body: does not match the request schema: ${parsed.error.issues[0]?.message ?? ''}`);
  if (parsed.data.v > (rules.protocolMax ?? PROTOCOL_VERSION)) return poison(`body: protocol version ${parsed.data.v} is newer than this agent speaks (at most ${rules.protocolMax})`);
  return { ok: true, request: parsed.data, correlationId, replyTo, deadline, requestId };
}

export function encodeReply(correlationId: string, reply: AgentReply): WireMessage {
  return {
    MessageBody: JSON.stringify(reply),
    MessageAttributes: { [ATTRIBUTE.correlationId]: { DataType: 'String', StringValue: correlationId } },
  };
}

/** A reply is in the request's version `v` (an agent answers a version 1 request as version 1). */
export function okReply(result: unknown, v: number = PROTOCOL_VERSION): AgentReply {
  return { v, ok: true, result };
}

/** A failure as it goes on the wire: made tenant-safe (lib/errors.ts), then capped. */
export function errorReply(err: unknown, v: number = PROTOCOL_VERSION): AgentReply & { ok: false } {
  const safe = tenantSafe(err);
  const error: ReplyErrorBody = { code: safe.code, message: safe.message.slice(0, MAX_ERROR_MESSAGE), ...(safe.detail !== undefined && { detail: safe.detail.slice(0, MAX_ERROR_DETAIL) }) };
  return { v, ok: false, error };
}

export type DecodedReply =
  | { ok: true; correlationId: string; reply: AgentReply }
  | { ok: false; correlationId: string | undefined; reason: string };

export function decodeReply(message: ReceivedMessage): DecodedReply {
  const correlationId = idAttribute(message.MessageAttributes ?? {}, ATTRIBUTE.correlationId);
  if (typeof correlationId !== 'string') return { ok: false, correlationId: undefined, reason: `correlationId: ${correlationId.problem}` };
  let body: unknown;
  try {
    body = JSON.parse(message.Body ?? '');
  } catch {
    return { ok: false, correlationId, reason: 'body: not JSON' };
  }
  const parsed = AgentReply.safeParse(body);
  if (!parsed.success) return { ok: false, correlationId, reason: `body: does not match the reply schema: ${parsed.error.issues[0]?.message ?? ''}` };
  return { ok: true, correlationId, reply: parsed.data };
}

type Attributes = Record<string, MessageAttributeValue>;
interface Problem { problem: string }

function stringAttribute(attrs: Attributes, name: string, dataType: 'String' | 'Number'): string | Problem {
  const attr = attrs[name];
  if (!attr) return { problem: 'missing' };
  if (attr.DataType !== dataType || typeof attr.StringValue !== 'string') return { problem: `must be of type ${dataType}` };
  return attr.StringValue;
}

function idAttribute(attrs: Attributes, name: string): string | Problem {
  const value = stringAttribute(attrs, name, 'String');
  if (typeof value !== 'string') return value;
  if (value.length > MAX_ID_LENGTH) return { problem: `longer than ${MAX_ID_LENGTH} characters` };
  if (!ID.test(value)) return { problem: 'not printable ASCII without spaces' };
  return value;
}

/** A hostile value quoted in a reason: short, one line, nothing a terminal interprets. */
function printable(value: string): string {
  return JSON.stringify(value.slice(0, 200));
}

/** A client's automation request, or why it is refused and where (if anywhere) that can be said. */
export type DecodedAutomationRequest =
  | { ok: true; request: AutomationRequest }
  | { ok: false; code: 'BadRequest' | 'PayloadTooLarge'; problem: string; replyTo?: string; requestId?: string };

/**
 * Read a request queue message body. The size is checked first, but an oversized body is still
 * read for its replyTo and requestId (at most SQS's 1 MiB), so its sender hears why.
 */
export function decodeAutomationRequest(body: string | undefined): DecodedAutomationRequest {
  const text = body ?? '';
  const bytes = Buffer.byteLength(text);
  let parsed: unknown;
  try {
    parsed = parseJsonText(text);
  } catch {
    return { ok: false, code: 'BadRequest', problem: 'the message body is not JSON' };
  }
  const replyTo = usableReplyTo(parsed);
  const requestId = usableRequestId(parsed);
  const refused = (code: 'BadRequest' | 'PayloadTooLarge', problem: string): DecodedAutomationRequest => ({
    ok: false, code, problem, ...(replyTo !== undefined && { replyTo }), ...(requestId !== undefined && { requestId }),
  });
  if (bytes > MAX_REQUEST_BYTES) return refused('PayloadTooLarge', `the request is ${bytes} bytes, the limit is ${MAX_REQUEST_BYTES}`);
  const request = AutomationRequest.safeParse(parsed);
  if (!request.success) return refused('BadRequest', requestProblem(request.error));
  return { ok: true, request: request.data };
}

export function encodeAutomationReply(reply: AutomationReply): Pick<WireMessage, 'MessageBody'> {
  return { MessageBody: JSON.stringify(reply) };
}

/** A reply as a client reads it; undefined for anything that is not one (a client ignores those). */
export function decodeAutomationReply(message: ReceivedMessage): AutomationReply | undefined {
  try {
    const parsed = AutomationReply.safeParse(JSON.parse(message.Body ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
