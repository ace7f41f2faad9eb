import { ensureHostQueue, parseQueueTags } from '../transport/host-queue.ts';
import { createSqsClient } from '../transport/sqs-client.ts';

/**
 * Enrolment, an operator's step (`vmconsole-agent --enrol` with operator credentials, the
 * HostEnrolmentPolicy of the stack): the host's request queue and DLQ, tagged with the stack's tags
 * (VMCONSOLE_QUEUE_TAGS, `key=value,...`) and the host's name. The local stack and the tests enrol
 * their hosts through this too; the agent itself only looks its queue up.
 */
export async function enrolHost(env: NodeJS.ProcessEnv, config: { host: string; hostQueuePrefix: string }): Promise<{ queueUrl: string; dlqUrl: string }> {
  const tags = parseQueueTags(env.VMCONSOLE_QUEUE_TAGS);
  const sqs = createSqsClient(env);
  try {
    return await ensureHostQueue(sqs, { prefix: config.hostQueuePrefix, host: config.host, tags });
  } finally {
    sqs.destroy();
  }
}
