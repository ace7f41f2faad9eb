import { DeleteQueueCommand, GetQueueAttributesCommand, ListQueuesCommand, ListQueueTagsCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { HEARTBEAT_TAG, IDLE_AFTER_MS } from './reply-queue-lifetime.ts';
import { isMissingQueue } from './sqs-errors.ts';

/**
 * Delete the reply queues of execution environments that are gone: a live one refreshes its
 * heartbeat tag at least once a minute while it serves requests. A queue without the tag is
 * judged by its creation time. Queues that vanish mid-sweep (another sweep, a closing requester)
 * are simply skipped.
 */
export async function sweepReplyQueues(sqs: SQSClient, namePrefix: string, now = Date.now()): Promise<{ kept: number; deleted: string[] }> {
  const deleted: string[] = [];
  let kept = 0;
  let NextToken: string | undefined;
  do {
    const page = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: namePrefix, MaxResults: 1000, NextToken }));
    NextToken = page.NextToken;
    for (const queueUrl of page.QueueUrls ?? []) {
      try {
        if (now - (await lastSeen(sqs, queueUrl)) <= IDLE_AFTER_MS) {
          kept += 1;
          continue;
        }
        await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
        deleted.push(queueUrl);
      } catch (err) {
        if (!isMissingQueue(err)) throw err;
      }
    }
  } while (NextToken);
  return { kept, deleted };
}

/** Epoch ms of the queue's last heartbeat, or of its creation when it never had one. */
async function lastSeen(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Tags } = await sqs.send(new ListQueueTagsCommand({ QueueUrl: queueUrl }));
  const heartbeat = Number(Tags?.[HEARTBEAT_TAG]);
  if (Number.isFinite(heartbeat)) return heartbeat;
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['CreatedTimestamp'] }));
  // SQS reports CreatedTimestamp in seconds; a queue we cannot date counts as idle.
  const created = Number(Attributes?.CreatedTimestamp) * 1000;
  return Number.isFinite(created) ? created : 0;
}
