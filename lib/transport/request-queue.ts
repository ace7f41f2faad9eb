import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createOrUpdateQueue } from './host-queue.ts';
import { deadLetterQueueName } from './queue-naming.ts';

/** Receives before a request that keeps failing (or cannot be answered) moves to the DLQ; as in serverless.yml. */
export const REQUEST_MAX_RECEIVES = 3;

/** `<service>-<stage>-requests`: the public request queue of queue-driven automation. */
export function requestQueueName(service: string, stage: string): string {
  return `${service}-${stage}-requests`;
}

/**
 * The automation request queue and its dead-letter queue, as serverless.yml declares them for a
 * deployment, for the local stack and the tests (where no CloudFormation runs). The visibility
 * timeout is short locally because the local poller extends it while the router works.
 */
export async function ensureRequestQueue(sqs: SQSClient, { name, visibilityTimeoutS }: { name: string; visibilityTimeoutS: number }): Promise<{ queueUrl: string; queueArn: string; dlqUrl: string }> {
  const dlqUrl = await createOrUpdateQueue(sqs, deadLetterQueueName(name), { MessageRetentionPeriod: String(14 * 24 * 3600) });
  const arnOf = async (QueueUrl: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const queueUrl = await createOrUpdateQueue(sqs, name, {
    VisibilityTimeout: String(visibilityTimeoutS),
    MessageRetentionPeriod: String(4 * 24 * 3600),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await arnOf(dlqUrl), maxReceiveCount: REQUEST_MAX_RECEIVES }),
  });
  return { queueUrl, queueArn: await arnOf(queueUrl), dlqUrl };
}
