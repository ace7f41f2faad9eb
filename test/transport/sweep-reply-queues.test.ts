import { CreateQueueCommand, ListQueuesCommand, TagQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HEARTBEAT_TAG, IDLE_AFTER_MS } from '../../lib/transport/reply-queue-lifetime.ts';
import { sweepReplyQueues } from '../../lib/transport/sweep-reply-queues.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, consoleRequest, startHost, startRequester, type HostUnderTest } from '../helpers/transport-fixture.ts';

const aws = useLocalAws();
let host: HostUnderTest;
beforeAll(async () => {
  host = await startHost(aws, 'sweep-host', { handle: async () => ({ output: '' }) });
});
afterAll(async () => {
  await host?.responder.stop();
});

const create = async (name: string, heartbeat?: number) => {
  const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: name, ...(heartbeat !== undefined && { tags: { [HEARTBEAT_TAG]: String(heartbeat) } }) }));
  return QueueUrl!;
};
const existing = async () => (await aws.sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [];

it('deletes only reply queues whose heartbeat (or, untagged, whose creation) is older than 15 minutes', async () => {
  const prefix = aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!;
  const channel = startRequester(aws, { replyQueuePrefix: prefix });
  await ask(channel, host.host, consoleRequest(), 5_000);
  const live = (await existing()).find((url) => url.includes(`/${prefix}`))!;
  const stale = await create(`${prefix}stale`, Date.now() - IDLE_AFTER_MS - 60_000);
  const recent = await create(`${prefix}recent`, Date.now() - 60_000);
  const untagged = await create(`${prefix}untagged`);
  const unrelated = await create('someone-elses-queue', 0);

  const first = await sweepReplyQueues(aws.sqs, prefix);
  expect(first.deleted).toEqual([stale]);
  expect(first.kept).toBe(3);

  // Sixteen minutes on: the untagged queue is judged by its creation time; the others heartbeat.
  const later = Date.now() + IDLE_AFTER_MS + 60_000;
  for (const url of [live, recent]) await aws.sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { [HEARTBEAT_TAG]: String(later - 1_000) } }));
  const second = await sweepReplyQueues(aws.sqs, prefix, later);
  expect(second.deleted).toEqual([untagged]);
  expect((await existing()).sort()).toEqual([host.queueUrl, host.dlqUrl, live, recent, unrelated].sort());

  // The channel still works: its queue was never touched.
  expect(await ask(channel, host.host, consoleRequest(), 5_000)).toMatchObject({ ok: true });
  await channel.close();
});
