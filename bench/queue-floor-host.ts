/**
 * The "host" half of the bare queue floor (bench/queue-floor.ts), run as its own process as an
 * agent is: long-poll the request queue, answer each message with a fixed reply of a console
 * reply's size on the queue its replyTo names, delete. No validation, no driver, no shaping:
 * what is left is what SQS and the SDK cost.
 */
import { readFile } from 'node:fs/promises';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { ATTRIBUTE as ATTR } from '../lib/transport/envelope.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';

const queueUrl = process.env.FLOOR_REQUEST_QUEUE_URL!;
const replyBody = await readFile(process.env.FLOOR_REPLY_BODY_FILE!, 'utf8');
const sqs = createSqsClient(process.env);
let running = true;
const receive = new AbortController();
process.on('SIGTERM', () => {
  running = false;
  receive.abort();
});

while (running) {
  const out = await sqs.send(new ReceiveMessageCommand({
    QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 20, MessageAttributeNames: ['All'],
  }), { abortSignal: receive.signal }).catch(() => ({ Messages: undefined }));
  const messages = out.Messages ?? [];
  if (messages.length === 0) continue;
  // Like the agent: the next receive starts while these are answered.
  void Promise.all(messages.map((m) => sqs.send(new SendMessageCommand({
    QueueUrl: m.MessageAttributes![ATTR.replyTo]!.StringValue!,
    MessageBody: replyBody,
    MessageAttributes: { [ATTR.correlationId]: { DataType: 'String', StringValue: m.MessageAttributes![ATTR.correlationId]!.StringValue! } },
  })))).then(() => sqs.send(new DeleteMessageBatchCommand({
    QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
  }))).catch((err: unknown) => console.error('queue floor host:', String(err)));
}
sqs.destroy();
