import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export const MAX_RECEIVES_BEFORE_DLQ = 3;

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
      VisibilityTimeout: '30',
      ReceiveMessageWaitTimeSeconds: '20',
      MessageRetentionPeriod: '300',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: MAX_RECEIVES_BEFORE_DLQ }),
    },
  }));
  return { queueUrl: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}
