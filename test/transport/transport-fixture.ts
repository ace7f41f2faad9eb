import { randomUUID } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ATTR, PROTOCOL_VERSION, type AgentRequest } from '../../lib/contracts/messages.ts';
import { HostConsumer, type HostConsumerOptions } from '../../lib/transport/host-consumer.ts';
import { ensureHostQueue } from '../../lib/transport/host-queue.ts';
import type { LocalAws } from '../helpers/aws-local.ts';

export const consoleRequest = (id: string = randomUUID()): AgentRequest => ({
  v: PROTOCOL_VERSION,
  kind: 'console.output',
  server: { id, instanceName: `instance-${id.slice(0, 8)}` },
  length: null,
});

export interface HostUnderTest {
  queueUrl: string;
  dlqUrl: string;
  /** What the agent accepts as reply queues: `<account URL>/<reply prefix>`. */
  replyQueueUrlPrefix: string;
  consumer: HostConsumer;
}

/** A host queue (with its DLQ) and a started consumer on it, as the agent sets them up. */
export async function startHost(aws: LocalAws, host: string, options: Partial<HostConsumerOptions> & Pick<HostConsumerOptions, 'handle'>): Promise<HostUnderTest> {
  const { queueUrl, dlqUrl } = await ensureHostQueue(aws.sqs, { prefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX!, host });
  const replyQueueUrlPrefix = `${queueUrl.slice(0, queueUrl.lastIndexOf('/') + 1)}${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}`;
  const consumer = new HostConsumer({ sqs: aws.sqs, queueUrl, replyQueueUrlPrefix, ...options });
  consumer.start();
  return { queueUrl, dlqUrl, replyQueueUrlPrefix, consumer };
}

/** Send a request the way a requester does, but with attributes of the test's choosing. */
export async function sendRaw(sqs: SQSClient, queueUrl: string, body: string, attributes: { correlationId?: string; replyTo?: string; deadline?: number }): Promise<void> {
  const MessageAttributes: NonNullable<ConstructorParameters<typeof SendMessageCommand>[0]['MessageAttributes']> = {};
  if (attributes.correlationId !== undefined) MessageAttributes[ATTR.correlationId] = { DataType: 'String', StringValue: attributes.correlationId };
  if (attributes.replyTo !== undefined) MessageAttributes[ATTR.replyTo] = { DataType: 'String', StringValue: attributes.replyTo };
  if (attributes.deadline !== undefined) MessageAttributes[ATTR.deadline] = { DataType: 'Number', StringValue: String(attributes.deadline) };
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes }));
}

/** Messages in a queue, visible or not. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
  }));
  return Number(Attributes.ApproximateNumberOfMessages) + Number(Attributes.ApproximateNumberOfMessagesNotVisible) + Number(Attributes.ApproximateNumberOfMessagesDelayed);
}

export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
