import { CreateQueueCommand, SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { expect, it } from 'vitest';
import { ensureHostQueue } from '../../lib/transport/host-queue.ts';
import { ReplyDestinations } from '../../lib/transport/queue-naming.ts';
import { Responder } from '../../lib/transport/responder.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, consoleRequest, queueDepth, startRequester, serverIdOf } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const aws = useLocalAws();

it('keeps a slow request hidden while it runs, so it is processed once (host queue with redrive, visibility 2 s, 5 s of work)', async () => {
  // The agent's own queue (redrive after 3 receives) with its visibility lowered: without the
  // extension the request would be received again after 2 s, and in the DLQ after 6 s.
  const { queueUrl, dlqUrl } = await ensureHostQueue(aws.sqs, { prefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX!, host: 'slow' });
  await aws.sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { VisibilityTimeout: '2' } }));
  let calls = 0;
  const duplicates: unknown[] = [];
  const poison: unknown[] = [];
  const consumer = new Responder({
    sqs: aws.sqs,
    queueUrl,
    replyDestinations: new ReplyDestinations([ReplyDestinations.forEdgeReplies(queueUrl, aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!)]),
    visibilityTimeoutS: 2,
    handle: async (request) => {
      calls += 1;
      await sleep(5_000);
      return { output: serverIdOf(request) };
    },
  });
  consumer.on('duplicate', (e) => duplicates.push(e));
  consumer.on('poison', (e) => poison.push(e));
  consumer.start();
  const channel = startRequester(aws);
  try {
    const request = consoleRequest();
    expect(await ask(channel, 'slow', request, 10_000)).toMatchObject({ ok: true, result: { output: serverIdOf(request) } });
    expect(calls).toBe(1);
    expect(duplicates).toEqual([]);
    expect(poison).toEqual([]);
    await waitFor(async () => (await queueDepth(aws.sqs, queueUrl)) === 0, 5_000, 'the request to be deleted');
    expect(await queueDepth(aws.sqs, dlqUrl)).toBe(0);
  } finally {
    await channel.close();
    await consumer.stop();
  }
});

it('stop() lets the work in flight finish and deletes it', async () => {
  const { QueueUrl: queueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}drain` }));
  let finished = false;
  const consumer = new Responder({
    sqs: aws.sqs,
    queueUrl: queueUrl!,
    replyDestinations: new ReplyDestinations([ReplyDestinations.forEdgeReplies(queueUrl!, aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!)]),
    handle: async (request) => {
      await sleep(500);
      finished = true;
      return { output: serverIdOf(request) };
    },
  });
  const started = new Promise<void>((resolve) => consumer.on('replied', () => resolve()));
  consumer.start();
  const channel = startRequester(aws);
  const reply = ask(channel, 'drain', consoleRequest(), 10_000);
  await sleep(200);
  await consumer.stop();
  expect(finished).toBe(true);
  await started;
  await expect(reply).resolves.toMatchObject({ ok: true });
  expect(await queueDepth(aws.sqs, queueUrl!)).toBe(0);
  await channel.close();
});

it('a handler that ignores its abort signal gives its slot back at the deadline, and its message is dropped, not extended', async () => {
  const { QueueUrl: queueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}hung` }));
  const dropped: unknown[] = [];
  let calls = 0;
  const consumer = new Responder({
    sqs: aws.sqs,
    queueUrl: queueUrl!,
    replyDestinations: new ReplyDestinations([ReplyDestinations.forEdgeReplies(queueUrl!, aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!)]),
    // One slot: if the hung request kept it, the second request could never run.
    concurrency: 1,
    visibilityTimeoutS: 2,
    handle: async (request) => {
      calls += 1;
      if (calls === 1) return new Promise(() => undefined); // a hung file system: never settles, ignores the signal
      return { output: serverIdOf(request) };
    },
  });
  consumer.on('dropped', (e) => dropped.push(e));
  consumer.start();
  const channel = startRequester(aws);
  try {
    const hung = await ask(channel, 'hung', consoleRequest(), 1_000).catch((err: unknown) => err);
    expect(hung).toMatchObject({ code: 'HostTimeout' });
    await waitFor(() => dropped.length === 1, 3_000, 'the hung request to be dropped at its deadline');
    const next = consoleRequest();
    expect(await ask(channel, 'hung', next, 5_000)).toMatchObject({ ok: true, result: { output: next.server.id } });
    await waitFor(async () => (await queueDepth(aws.sqs, queueUrl!)) === 0, 5_000, 'both requests to be deleted');
  } finally {
    await channel.close();
    await consumer.stop();
  }
});
