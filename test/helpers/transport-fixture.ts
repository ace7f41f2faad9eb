import { randomUUID } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { PROTOCOL_VERSION, type AgentRequest, type RequestOf } from '../../lib/contracts/messages.ts';
import { ATTRIBUTE, type AgentReply } from '../../lib/transport/envelope.ts';
import { ensureHostQueue } from '../../lib/transport/host-queue.ts';
import { ReplyDestinations } from '../../lib/transport/queue-naming.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { Responder, type ResponderOptions } from '../../lib/transport/responder.ts';
import type { LocalAws } from './aws-local.ts';

export type ConsoleRequest = RequestOf<'console.output'>;

/** The server a console request names: what the transport suites' handlers echo back. */
export const serverIdOf = (request: AgentRequest): string => (request.kind === 'console.output.batch' ? request.servers[0]!.server.id : request.server.id);

export const consoleRequest = (id: string = randomUUID()): ConsoleRequest => ({
  v: PROTOCOL_VERSION,
  kind: 'console.output',
  server: { id, instanceName: `instance-${id.slice(0, 8)}` },
  length: null,
});

export interface HostUnderTest {
  host: string;
  queueUrl: string;
  dlqUrl: string;
  /** What the agent accepts as reply queues: `<account URL>/<reply prefix>`. */
  replyQueueUrlPrefix: string;
  responder: Responder;
}

/** A host queue (with its DLQ) and a started responder on it, as the agent sets them up. */
export async function startHost(aws: Pick<LocalAws, 'sqs' | 'env'>, host: string, options: Partial<ResponderOptions> & Pick<ResponderOptions, 'handle'>): Promise<HostUnderTest> {
  const { queueUrl, dlqUrl } = await ensureHostQueue(aws.sqs, { prefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX!, host });
  const replyQueueUrlPrefix = ReplyDestinations.forEdgeReplies(queueUrl, aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!);
  const responder = new Responder({ sqs: aws.sqs, queueUrl, replyDestinations: new ReplyDestinations([replyQueueUrlPrefix]), ...options });
  responder.start();
  return { host, queueUrl, dlqUrl, replyQueueUrlPrefix, responder };
}

/** A requester as the edge makes one, on the test's fauxqs. */
export function startRequester(aws: LocalAws, options: { replyQueuePrefix?: string; sqs?: SQSClient; revalidateAfterMs?: number } = {}): Requester {
  return new Requester({
    sqs: options.sqs ?? aws.sqs,
    replyQueuePrefix: options.replyQueuePrefix ?? aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!,
    hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX!,
    ...(options.revalidateAfterMs !== undefined && { revalidateAfterMs: options.revalidateAfterMs }),
  });
}

/** Ask `host` through `requester`, waiting at most `ms`. */
export function ask(requester: Requester, host: string, request: AgentRequest, ms: number): Promise<AgentReply> {
  return requester.request(host, request, { deadline: Date.now() + ms, requestId: `req-${randomUUID()}` });
}

type RawAttribute = string | number | { DataType: string; StringValue?: string; BinaryValue?: Uint8Array };
/**
 * Send a request with attributes of the test's choosing, hostile ones included: a string or number
 * is sent with the type the envelope expects, an object as given. Deliberately not the envelope's
 * encoder, which only writes well-formed requests.
 */
export async function sendRaw(sqs: SQSClient, queueUrl: string, body: string, attributes: { correlationId?: RawAttribute; replyTo?: RawAttribute; deadline?: RawAttribute; requestId?: RawAttribute | null }): Promise<void> {
  const MessageAttributes: NonNullable<ConstructorParameters<typeof SendMessageCommand>[0]['MessageAttributes']> = {};
  const withDefaults = { requestId: `req-${randomUUID()}`, ...attributes };
  for (const name of ['correlationId', 'replyTo', 'deadline', 'requestId'] as const) {
    const value = withDefaults[name];
    if (value === undefined || value === null) continue;
    MessageAttributes[ATTRIBUTE[name]] = typeof value === 'object' ? value : { DataType: name === 'deadline' ? 'Number' : 'String', StringValue: String(value) };
  }
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes }));
}

/** What a queue holds: messages waiting (visible) and messages a consumer holds (in flight). */
export async function queueCounts(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { visible, inFlight } = await queueAttributes(sqs, queueUrl);
  return { visible, inFlight };
}

/** Messages in a queue, visible or not. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { visible, inFlight, delayed } = await queueAttributes(sqs, queueUrl);
  return visible + inFlight + delayed;
}

async function queueAttributes(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
  }));
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed),
  };
}
