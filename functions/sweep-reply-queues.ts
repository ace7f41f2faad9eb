import { readEdgeConfig } from '../lib/nova-api/edge-config.ts';
import { createLogger } from '../lib/logger.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';
import { sweepReplyQueues } from '../lib/transport/sweep-reply-queues.ts';

const logger = createLogger('vmconsole-sweeper');
const sqs = createSqsClient();
const { replyQueuePrefix } = readEdgeConfig();

/** Scheduled every 15 minutes: remove reply queues whose execution environments are gone. */
export async function handler(): Promise<{ kept: number; deleted: number }> {
  const { kept, deleted } = await sweepReplyQueues(sqs, replyQueuePrefix);
  logger.info('swept reply queues', { kept, deleted });
  return { kept, deleted: deleted.length };
}
