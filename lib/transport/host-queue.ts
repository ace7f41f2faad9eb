import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterQueueName, hostQueueName } from './queue-naming.ts';
import { isQueueNameTaken } from './sqs-errors.ts';

export const MAX_RECEIVES_BEFORE_DLQ = 3;
/**
 * Short, because a request held by a crashed agent (or handed to its dead long poll) comes back
 * only after this: 5 s lets it be answered within the edge's 10 s deadline. The responder extends
 * it while slow work runs.
 */
export const HOST_QUEUE_VISIBILITY_S = 5;

/**
 * A host's request queue and its dead-letter queue. Console requests are worthless after a few
 * minutes (short retention); a message that fails three receives (poison) goes to the DLQ,
 * kept for two weeks for inspection. Queues made under older settings are brought up to date.
 */
export async function ensureHostQueue(sqs: SQSClient, { prefix, host }: { prefix: string; host: string }): Promise<{ queueUrl: string; dlqUrl: string }> {
  const name = hostQueueName(prefix, host);
  const dlqUrl = await createOrUpdateQueue(sqs, deadLetterQueueName(name), { MessageRetentionPeriod: String(14 * 24 * 3600) });
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const queueUrl = await createOrUpdateQueue(sqs, name, {
    VisibilityTimeout: String(HOST_QUEUE_VISIBILITY_S),
    ReceiveMessageWaitTimeSeconds: '20',
    MessageRetentionPeriod: '300',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: MAX_RECEIVES_BEFORE_DLQ }),
  });
  return { queueUrl, dlqUrl };
}

export async function createOrUpdateQueue(sqs: SQSClient, QueueName: string, Attributes: Record<string, string>): Promise<string> {
  try {
    return (await sqs.send(new CreateQueueCommand({ QueueName, Attributes }))).QueueUrl!;
  } catch (err) {
    if (!isQueueNameTaken(err)) throw err;
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName }));
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes }));
    return QueueUrl!;
  }
}
