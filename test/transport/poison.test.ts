import { randomUUID } from 'node:crypto';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { MAX_RECEIVES_BEFORE_DLQ } from '../../lib/transport/host-queue.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, consoleRequest, queueDepth, sendRaw, startHost, startRequester, type HostUnderTest, serverIdOf } from '../helpers/transport-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const aws = useLocalAws();
let host: HostUnderTest;
let handled = 0;
const poison: Array<{ messageId: string | undefined; reason: string }> = [];
const deadLettered: Array<{ messageId: string | undefined; receiveCount: number }> = [];

beforeAll(async () => {
  host = await startHost(aws, 'poison-host', {
    handle: async (request) => {
      handled += 1;
      return { output: serverIdOf(request) };
    },
  });
  host.responder.on('poison', (e) => poison.push(e));
  host.responder.on('dead_lettered', (e) => deadLettered.push(e));
});
afterAll(async () => {
  await host?.responder.stop();
});

it('never answers nor deletes poison, leaves it to redrive into the DLQ, and keeps serving good requests', async () => {
  const prefix = host.replyQueueUrlPrefix;
  // A queue an attacker would like the agent to write into: same account, outside the reply prefix.
  const { QueueUrl: victim } = await aws.sqs.send(new CreateQueueCommand({ QueueName: 'vmconsole-test-host-victim' }));
  const { QueueUrl: ownReply } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}legit-${randomUUID()}` }));
  const good = JSON.stringify(consoleRequest());
  const deadline = Date.now() + 60_000;
  const cases: Array<[string, string, Parameters<typeof sendRaw>[3]]> = [
    ['not JSON', '{"v":1,', { correlationId: randomUUID(), replyTo: ownReply!, deadline }],
    ['wrong schema', JSON.stringify({ v: PROTOCOL_VERSION, kind: 'console.output', server: { id: 'nope' }, length: null }), { correlationId: randomUUID(), replyTo: ownReply!, deadline }],
    ['unknown protocol version', JSON.stringify({ ...consoleRequest(), v: PROTOCOL_VERSION + 1 }), { correlationId: randomUUID(), replyTo: ownReply!, deadline }],
    ['no correlationId', good, { replyTo: ownReply!, deadline }],
    ['no replyTo', good, { correlationId: randomUUID(), deadline }],
    ['no deadline', good, { correlationId: randomUUID(), replyTo: ownReply! }],
    ['other account', good, { correlationId: randomUUID(), replyTo: ownReply!.replace('/000000000000/', '/111111111111/'), deadline }],
    ['same account, outside the prefix', good, { correlationId: randomUUID(), replyTo: victim!, deadline }],
    ['prefix itself', good, { correlationId: randomUUID(), replyTo: prefix, deadline }],
    ['dot-dot', good, { correlationId: randomUUID(), replyTo: `${prefix}x/../vmconsole-test-host-victim`, deadline }],
    ['encoded dot-dot', good, { correlationId: randomUUID(), replyTo: `${prefix}x/%2e%2e/vmconsole-test-host-victim`, deadline }],
    ['encoded slash', good, { correlationId: randomUUID(), replyTo: `${prefix}x%2f%2e%2e%2fvmconsole-test-host-victim`, deadline }],
    ['fragment', good, { correlationId: randomUUID(), replyTo: `${ownReply}#x`, deadline }],
    ['query string', good, { correlationId: randomUUID(), replyTo: `${ownReply}?Action=SendMessage`, deadline }],
    ['userinfo', good, { correlationId: randomUUID(), replyTo: ownReply!.replace('http://', 'http://evil@'), deadline }],
    ['other host', good, { correlationId: randomUUID(), replyTo: ownReply!.replace(/^http:\/\/[^/]+/, 'http://sqs.us-east-1.evil.example'), deadline }],
    ['host suffix trick', good, { correlationId: randomUUID(), replyTo: ownReply!.replace(/^(http:\/\/[^/:]+)/, '$1.evil.example'), deadline }],
    // Before the envelope bounded it, this deadline made AbortSignal.timeout throw a RangeError
    // after the work was done: the request was redelivered and never answered.
    ['deadline past 2^32 ms from now', good, { correlationId: randomUUID(), replyTo: ownReply!, deadline: Date.now() + 2 ** 32 + 10_000 }],
    ['deadline beyond the maximum wait', good, { correlationId: randomUUID(), replyTo: ownReply!, deadline: Date.now() + 6 * 60_000 }],
    ['deadline not an integer', good, { correlationId: randomUUID(), replyTo: ownReply!, deadline: '1.7e12' }],
    ['deadline sent as a String', good, { correlationId: randomUUID(), replyTo: ownReply!, deadline: { DataType: 'String', StringValue: String(deadline) } }],
    ['no requestId', good, { correlationId: randomUUID(), replyTo: ownReply!, deadline, requestId: null }],
    ['requestId forging a log line', good, { correlationId: randomUUID(), replyTo: ownReply!, deadline, requestId: 'req-1\n{"level":"ERROR"}' }],
    ['correlationId too long', good, { correlationId: 'c'.repeat(129), replyTo: ownReply!, deadline }],
  ];
  for (const [, body, attributes] of cases) await sendRaw(aws.sqs, host.queueUrl, body, attributes);

  // A good request sent after all the poison is answered at once.
  const channel = startRequester(aws);
  const started = Date.now();
  const request = consoleRequest();
  expect(await ask(channel, host.host, request, 5_000)).toEqual({ v: PROTOCOL_VERSION, ok: true, result: { output: serverIdOf(request) } });
  expect(Date.now() - started).toBeLessThan(1_000);
  await channel.close();

  await waitFor(async () => (await queueDepth(aws.sqs, host.dlqUrl)) === cases.length, 25_000, 'every poison message to reach the DLQ');
  expect(await queueDepth(aws.sqs, host.queueUrl)).toBe(0);
  expect(handled).toBe(1);
  expect(await queueDepth(aws.sqs, victim!)).toBe(0);
  expect(await queueDepth(aws.sqs, ownReply!)).toBe(0);
  // Each one was looked at maxReceiveCount times, then SQS moved it.
  expect(poison).toHaveLength(cases.length * MAX_RECEIVES_BEFORE_DLQ);
  // ...and reported once as dead-lettered, on its last receive (the agents' DeadLettered metric).
  expect(deadLettered).toHaveLength(cases.length);
  expect(new Set(deadLettered.map((e) => e.messageId)).size).toBe(cases.length);
  for (const e of deadLettered) expect(e.receiveCount).toBe(MAX_RECEIVES_BEFORE_DLQ);
});

