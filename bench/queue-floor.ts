import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { ATTRIBUTE as ATTR } from '../lib/transport/envelope.ts';
import { AGENT_COMMAND } from '../lib/local/local-stack.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';

const FLOOR_HOST = fileURLToPath(new URL('./queue-floor-host.ts', import.meta.url));

export interface QueueFloor {
  /** The host process. */
  pid: number;
  /** One request -> reply; true when the reply is the expected body. */
  call(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The bare queue floor: what a request -> reply costs over SQS with nothing else on the path.
 * This process plays the edge (SendMessage, a reply long poll always in flight), a child process
 * started like the agent plays the host (long poll, SendMessage of the reply). Same SQS endpoint,
 * same SDK client options (lib/aws-client-options.ts), same message attributes and body sizes as
 * a console request and its reply; deletes are batched per receive and off the critical path.
 */
export async function startQueueFloor(options: {
  env: Record<string, string>;
  workDir: string;
  /** A console request's body and its reply's, byte for byte. */
  requestBody: string;
  replyBody: string;
}): Promise<QueueFloor> {
  const fullEnv = { ...process.env, ...options.env };
  const sqs = createSqsClient(fullEnv);
  const tag = randomUUID().slice(0, 8);
  const requestQueue = (await sqs.send(new CreateQueueCommand({
    QueueName: `vmconsole-floor-host-${tag}`, Attributes: { VisibilityTimeout: '5', MessageRetentionPeriod: '300' },
  }))).QueueUrl!;
  const replyQueue = (await sqs.send(new CreateQueueCommand({
    QueueName: `vmconsole-floor-reply-${tag}`, Attributes: { MessageRetentionPeriod: '60' },
  }))).QueueUrl!;
  const replyBodyFile = join(options.workDir, 'floor-reply.json');
  await writeFile(replyBodyFile, options.replyBody);
  const host = spawn(AGENT_COMMAND[0], [...AGENT_COMMAND.slice(1, -1), FLOOR_HOST], {
    env: { ...fullEnv, FLOOR_REQUEST_QUEUE_URL: requestQueue, FLOOR_REPLY_BODY_FILE: replyBodyFile },
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  const pending = new Map<string, (body: string) => void>();
  const receive = new AbortController();
  const poller = (async () => {
    while (!receive.signal.aborted) {
      const out = await sqs.send(new ReceiveMessageCommand({
        QueueUrl: replyQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 20, MessageAttributeNames: [ATTR.correlationId],
      }), { abortSignal: receive.signal }).catch(() => ({ Messages: undefined }));
      const messages = out.Messages ?? [];
      if (messages.length === 0) continue;
      for (const m of messages) {
        const id = m.MessageAttributes?.[ATTR.correlationId]?.StringValue ?? '';
        pending.get(id)?.(m.Body ?? '');
        pending.delete(id);
      }
      void sqs.send(new DeleteMessageBatchCommand({
        QueueUrl: replyQueue, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      })).catch(() => undefined);
    }
  })();

  return {
    pid: host.pid!,
    async call() {
      const correlationId = randomUUID();
      const reply = new Promise<string>((resolve) => pending.set(correlationId, resolve));
      await sqs.send(new SendMessageCommand({
        QueueUrl: requestQueue,
        MessageBody: options.requestBody,
        MessageAttributes: {
          [ATTR.correlationId]: { DataType: 'String', StringValue: correlationId },
          [ATTR.replyTo]: { DataType: 'String', StringValue: replyQueue },
          [ATTR.deadline]: { DataType: 'Number', StringValue: String(Date.now() + 10_000) },
          [ATTR.requestId]: { DataType: 'String', StringValue: 'req-bench' },
        },
      }));
      return (await reply) === options.replyBody;
    },
    async close() {
      host.kill('SIGTERM');
      receive.abort();
      await Promise.all([once(host, 'exit'), poller]);
      await Promise.allSettled([requestQueue, replyQueue].map((QueueUrl) => sqs.send(new DeleteQueueCommand({ QueueUrl }))));
      sqs.destroy();
    },
  };
}
