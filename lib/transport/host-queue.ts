import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export const MAX_RECEIVES_BEFORE_DLQ = 3;
/**
 * Short, because a request held by a crashed agent (or handed to its dead long poll) comes back
 * only after this: 5 s lets it be answered within the edge's 10 s deadline. The consumer extends
 * it while slow work runs.
 */
export const HOST_QUEUE_VISIBILITY_S = 5;

export function hostQueueName(prefix: string, host: string): string {
  return `${prefix}${host}`;
}

/**
 * A host's request queue and its dead-letter queue. Console requests are worthless after a few
 * minutes (short retention); a message that fails three receives (poison) goes to the DLQ,
 * kept for two weeks for inspection.
 */
export async function ensureHostQueue(sqs: SQSClient, { prefix, host }: { prefix: string; host: string }): Promise<{ queueUrl: string; dlqUrl: string }> {
  const name = hostQueueName(prefix, host);
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq`, Attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) } }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl!, AttributeNames: ['QueueArn'] }));
  const queue = await sqs.send(new CreateQueueCommand({
    QueueName: name,
    Attributes: {
      VisibilityTimeout: String(HOST_QUEUE_VISIBILITY_S),
      ReceiveMessageWaitTimeSeconds: '20',
      MessageRetentionPeriod: '300',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: MAX_RECEIVES_BEFORE_DLQ }),
    },
  }));
  return { queueUrl: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}
