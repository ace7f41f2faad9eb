import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { expect, it } from 'vitest';
import { ensureHostQueue, HOST_QUEUE_VISIBILITY_S, MAX_RECEIVES_BEFORE_DLQ } from '../../lib/transport/host-queue.ts';
import { hostQueueName } from '../../lib/transport/queue-naming.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

const aws = useLocalAws();

const attributes = async (queueUrl: string) =>
  (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes ?? {};

it('provisions the host queue with redrive to its DLQ, idempotently', async () => {
  const first = await ensureHostQueue(aws.sqs, { prefix: 'hq-', host: 'node-1' });
  expect(first.queueUrl.endsWith(`/${hostQueueName('hq-', 'node-1')}`)).toBe(true);
  expect(first.dlqUrl.endsWith('/hq-node-1-dlq')).toBe(true);
  const queue = await attributes(first.queueUrl);
  const dlq = await attributes(first.dlqUrl);
  expect(JSON.parse(queue.RedrivePolicy!)).toEqual({ deadLetterTargetArn: dlq.QueueArn, maxReceiveCount: MAX_RECEIVES_BEFORE_DLQ });
  expect(queue).toMatchObject({ VisibilityTimeout: String(HOST_QUEUE_VISIBILITY_S), ReceiveMessageWaitTimeSeconds: '20', MessageRetentionPeriod: '300' });
  expect(dlq.MessageRetentionPeriod).toBe(String(14 * 24 * 3600));
  expect(await ensureHostQueue(aws.sqs, { prefix: 'hq-', host: 'node-1' })).toEqual(first);
});

it('brings a host queue made under older settings up to date instead of failing', async () => {
  await aws.sqs.send(new CreateQueueCommand({ QueueName: 'hq-node-2', Attributes: { VisibilityTimeout: '30', MessageRetentionPeriod: '3600' } }));
  const { queueUrl, dlqUrl } = await ensureHostQueue(aws.sqs, { prefix: 'hq-', host: 'node-2' });
  const queue = await attributes(queueUrl);
  expect(queue).toMatchObject({ VisibilityTimeout: String(HOST_QUEUE_VISIBILITY_S), MessageRetentionPeriod: '300' });
  expect(JSON.parse(queue.RedrivePolicy!).deadLetterTargetArn).toBe((await attributes(dlqUrl)).QueueArn);
});
