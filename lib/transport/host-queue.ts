import { CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, SetQueueAttributesCommand, TagQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { deadLetterQueueName, hostQueueName } from './queue-naming.ts';
import { isMissingQueue, isQueueNameTaken } from './sqs-errors.ts';

export const MAX_RECEIVES_BEFORE_DLQ = 3;
/**
 * Short, because a request held by a crashed agent (or handed to its dead long poll) comes back
 * only after this: 5 s lets it be answered within the edge's 10 s deadline. The responder extends
 * it while slow work runs.
 */
export const HOST_QUEUE_VISIBILITY_S = 5;

/**
 * Enrol a host: create its request queue and dead-letter queue (`vmconsole-agent --enrol`, run with
 * operator credentials; the local stack and tests enrol the same way). Console requests are
 * worthless after a few minutes (short retention); a message that fails three receives (poison)
 * goes to the DLQ, kept for two weeks for inspection. Both carry `tags` (the stack's tags and the
 * host's name). Queues made under older settings or tags are brought up to date.
 * The agent itself neither creates queues nor changes their attributes: its IAM policy allows
 * neither (serverless.yml AgentPolicy), so it cannot loosen its own queue's access policy.
 */
export async function ensureHostQueue(sqs: SQSClient, { prefix, host, tags = {} }: { prefix: string; host: string; tags?: Record<string, string> }): Promise<{ queueUrl: string; dlqUrl: string }> {
  const name = hostQueueName(prefix, host);
  const allTags = { ...tags, 'vmconsole-host': host };
  const dlqUrl = await createOrUpdateQueue(sqs, deadLetterQueueName(name), { MessageRetentionPeriod: String(14 * 24 * 3600) }, allTags);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }));
  const queueUrl = await createOrUpdateQueue(sqs, name, {
    VisibilityTimeout: String(HOST_QUEUE_VISIBILITY_S),
    ReceiveMessageWaitTimeSeconds: '20',
    MessageRetentionPeriod: '300',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: MAX_RECEIVES_BEFORE_DLQ }),
  }, allTags);
  return { queueUrl, dlqUrl };
}

/** The agent's side: the URL of its enrolled queue, or an error that says to enrol the host. */
export async function findHostQueue(sqs: SQSClient, { prefix, host }: { prefix: string; host: string }): Promise<string> {
  const QueueName = hostQueueName(prefix, host);
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl!;
  } catch (err) {
    if (!isMissingQueue(err)) throw err;
    throw new Error(`host queue ${QueueName} does not exist: enrol this host first (vmconsole-agent --enrol, with operator credentials)`, { cause: err });
  }
}

/** `key=value,key=value` (VMCONSOLE_QUEUE_TAGS) as SQS tags. */
export function parseQueueTags(text: string | undefined): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`not a key=value tag: ${pair.slice(0, 100)}`);
    tags[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return tags;
}

export async function createOrUpdateQueue(sqs: SQSClient, QueueName: string, Attributes: Record<string, string>, tags?: Record<string, string>): Promise<string> {
  const withTags = tags && Object.keys(tags).length > 0 ? tags : undefined;
  let queueUrl: string;
  try {
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName, Attributes, ...(withTags && { tags: withTags }) }))).QueueUrl!;
  } catch (err) {
    if (!isQueueNameTaken(err)) throw err;
    queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl!;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes }));
  }
  // CreateQueue of a queue that exists ignores tags: one enrolled before they were set gets them now.
  if (withTags) await sqs.send(new TagQueueCommand({ QueueUrl: queueUrl, Tags: withTags }));
  return queueUrl;
}
