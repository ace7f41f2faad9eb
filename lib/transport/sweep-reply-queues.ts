import { DeleteQueueCommand, GetQueueAttributesCommand, ListQueuesCommand, ListQueueTagsCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { HEARTBEAT_TAG } from './reply-channel.ts';

export const IDLE_AFTER_MS = 15 * 60_000;

/**
 * Delete the reply queues of execution environments that are gone: a live one refreshes its
 * heartbeat tag at least once a minute while it serves requests. A queue without the tag is
 * judged by its creation time.
 */
export async function sweepReplyQueues(sqs: SQSClient, namePrefix: string, now = Date.now()): Promise<{ kept: number; deleted: string[] }> {
  const deleted: string[] = [];
  let kept = 0;
  let NextToken: string | undefined;
  do {
    const page = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: namePrefix, MaxResults: 1000, NextToken }));
    NextToken = page.NextToken;
    for (const queueUrl of page.QueueUrls ?? []) {
      const { Tags } = await sqs.send(new ListQueueTagsCommand({ QueueUrl: queueUrl }));
      let lastSeen = Number(Tags?.[HEARTBEAT_TAG]);
      if (!Number.isFinite(lastSeen)) {
        const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['CreatedTimestamp'] }));
        lastSeen = Number(Attributes?.CreatedTimestamp) * 1000;
      }
      if (Number.isFinite(lastSeen) && now - lastSeen <= IDLE_AFTER_MS) {
        kept += 1;
        continue;
      }
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      deleted.push(queueUrl);
    }
  } while (NextToken);
  return { kept, deleted };
}
