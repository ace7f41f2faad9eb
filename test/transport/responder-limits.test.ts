import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { expect, it } from 'vitest';
import type { AgentRequest } from '../../lib/contracts/messages.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, consoleRequest, queueDepth, sendRaw, startHost, startRequester, serverIdOf } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const aws = useLocalAws();

it('never runs more handlers at once than its concurrency, and still answers everyone', async () => {
  let running = 0;
  let most = 0;
  const host = await startHost(aws, 'narrow', {
    concurrency: 3,
    handle: async (request: AgentRequest) => {
      running += 1;
      most = Math.max(most, running);
      await sleep(100);
      running -= 1;
      return { output: serverIdOf(request) };
    },
  });
  const channel = startRequester(aws);
  try {
    const requests = Array.from({ length: 24 }, () => consoleRequest());
    const started = Date.now();
    const replies = await Promise.all(requests.map((r) => ask(channel, host.host, r, 15_000)));
    replies.forEach((reply, i) => expect(reply).toMatchObject({ ok: true, result: { output: requests[i]!.server.id } }));
    expect(most).toBe(3);
    // 24 requests, 3 at a time, 100 ms each: at least 8 rounds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
  } finally {
    await channel.close();
    await host.responder.stop();
  }
});

it('runs a request whose caller\'s reply queue is gone once, and deletes it instead of retrying', async () => {
  let calls = 0;
  const host = await startHost(aws, 'orphans', {
    handle: async (request: AgentRequest) => {
      calls += 1;
      return { output: serverIdOf(request) };
    },
  });
  const dropped: unknown[] = [];
  host.responder.on('dropped', (e) => dropped.push(e));
  try {
    const { QueueUrl: gone } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}gone-${randomUUID()}` }));
    await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: gone! }));
    const correlationId = randomUUID();
    await sendRaw(aws.sqs, host.queueUrl, JSON.stringify(consoleRequest()), { correlationId, replyTo: gone!, deadline: Date.now() + 30_000, requestId: 'req-orphan' });
    await waitFor(() => dropped.length === 1, 5_000, 'the orphaned request to be dropped');
    expect(dropped).toEqual([{ correlationId, requestId: 'req-orphan', reason: 'reply queue gone' }]);
    await waitFor(async () => (await queueDepth(aws.sqs, host.queueUrl)) === 0, 5_000, 'the request to be deleted');
    expect(calls).toBe(1);
  } finally {
    await host.responder.stop();
  }
});
