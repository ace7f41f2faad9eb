import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RequestOf } from '../../lib/contracts/messages.ts';
import { decodeRequest, encodeReply, okReply as replyWith, type AgentReply } from '../../lib/transport/envelope.ts';

type ConsoleRequest = RequestOf<'console.output'>;

/** What the scripted host does with one request: answer with a reply, or stay silent. */
export type Script = (request: ConsoleRequest) => AgentReply | 'silent';

export interface ScriptedHost {
  queueUrl: string;
  /** Every request that reached the host queue, in order, with the request id it carried. */
  received: ConsoleRequest[];
  requestIds: string[];
  script: Script;
  stop(): Promise<void>;
}

/** A console output reply, as an agent sends it. */
export const okReply = (output: string): AgentReply => replyWith({ output });

/**
 * A compute host reduced to its wire behaviour: a real SQS consumer on a real host queue that
 * answers each request on its replyTo queue, through the same envelope as the agent.
 */
export async function startScriptedHost(sqs: SQSClient, queueName: string, script: Script): Promise<ScriptedHost> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: queueName }));
  const queueUrl = QueueUrl!;
  const stopping = new AbortController();
  const host: ScriptedHost = { queueUrl, received: [], requestIds: [], script, stop: async () => undefined };

  const loop = (async () => {
    while (!stopping.signal.aborted) {
      const batch = await sqs
        .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }), { abortSignal: stopping.signal })
        .catch((err: unknown) => {
          if (stopping.signal.aborted) return { Messages: [] };
          throw err;
        });
      for (const message of batch.Messages ?? []) {
        // A scripted host trusts its test: any reply queue will do.
        const decoded = decodeRequest(message, { isAllowedReplyDestination: () => true });
        if (!decoded.ok) throw new Error(`scripted host received a bad request: ${decoded.reason}`);
        if (decoded.request.kind !== 'console.output') throw new Error(`scripted host speaks console.output only, received ${decoded.request.kind}`);
        host.received.push(decoded.request);
        host.requestIds.push(decoded.requestId);
        const reply = host.script(decoded.request);
        if (reply !== 'silent') await sqs.send(new SendMessageCommand({ QueueUrl: decoded.replyTo, ...encodeReply(decoded.correlationId, reply) }));
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
