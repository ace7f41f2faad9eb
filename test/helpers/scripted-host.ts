import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { AgentRequest, ATTR, PROTOCOL_VERSION, type AgentReply } from '../../lib/contracts/messages.ts';

/** What the scripted host does with one request: answer with a reply, or stay silent. */
export type Script = (request: AgentRequest) => AgentReply | 'silent';

export interface ScriptedHost {
  queueUrl: string;
  /** Every request that reached the host queue, in order. */
  received: AgentRequest[];
  script: Script;
  stop(): Promise<void>;
}

export const okReply = (output: string): AgentReply => ({ v: PROTOCOL_VERSION, ok: true, result: { output } });

/**
 * A compute host reduced to its wire behaviour: a real SQS consumer on a real host queue that
 * answers each request on its replyTo queue with the correlationId, as the agent contract says.
 */
export async function startScriptedHost(sqs: SQSClient, queueName: string, script: Script): Promise<ScriptedHost> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  const queueUrl = QueueUrl!;
  const stopping = new AbortController();
  const host: ScriptedHost = { queueUrl, received: [], script, stop: async () => undefined };

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const batch = await sqs
        .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }), { abortSignal: stopping.signal })
        .catch((err: unknown) => {
          if (stopping.signal.aborted) return { Messages: [] };
          throw err;
        });
      for (const message of batch.Messages ?? []) {
        const request = AgentRequest.parse(JSON.parse(message.Body ?? ''));
        host.received.push(request);
        const reply = host.script(request);
        const replyTo = message.MessageAttributes?.[ATTR.replyTo]?.StringValue;
        const correlationId = message.MessageAttributes?.[ATTR.correlationId]?.StringValue;
        if (reply !== 'silent' && replyTo && correlationId) {
          await sqs.send(new SendMessageCommand({
            QueueUrl: replyTo,
            MessageBody: JSON.stringify(reply),
            MessageAttributes: { [ATTR.correlationId]: { DataType: 'String', StringValue: correlationId } },
          }));
        }
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
      }
    }
  })();
  host.stop = async () => {
    stopping.abort();
    await loop;
  };
  return host;
}
