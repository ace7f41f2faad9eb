import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteQueueCommand, ListQueuesCommand, ListQueueTagsCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type AgentRequest } from '../../lib/contracts/messages.ts';
import { ATTRIBUTE as ATTR } from '../../lib/transport/envelope.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { HEARTBEAT_TAG, IDLE_AFTER_MS } from '../../lib/transport/reply-queue-lifetime.ts';
import { sweepReplyQueues } from '../../lib/transport/sweep-reply-queues.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, consoleRequest, queueDepth, sendRaw, startHost, startRequester, type ConsoleRequest, type HostUnderTest } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const aws = useLocalAws();
let host: HostUnderTest;
const handled: ConsoleRequest[] = [];
const channels: Requester[] = [];

/** The handler's behaviour is chosen by the request's instance name. */
async function handle(request: AgentRequest): Promise<unknown> {
  if (request.kind !== 'console.output') throw new Error(`unexpected kind ${request.kind}`);
  handled.push(request);
  const { instanceName, id } = request.server;
  if (instanceName === 'refuse') throw new VmconsoleError('NoConsole', 'no console for this one');
  if (instanceName === 'crash') throw new Error('/var/lib/secret/path exploded');
  if (instanceName === 'slow') await sleep(1_500);
  if (instanceName === 'jitter') await sleep(Math.random() * 20);
  return { output: `console of ${id}` };
}

function channel(replyQueuePrefix = aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!): Requester {
  const c = startRequester(aws, { replyQueuePrefix });
  channels.push(c);
  return c;
}

const request = (instanceName = 'fast', id = randomUUID()): ConsoleRequest => ({ ...consoleRequest(id), server: { id, instanceName } });

beforeAll(async () => {
  host = await startHost(aws, 'rr-host', { handle });
});
afterAll(async () => {
  await Promise.all(channels.map((c) => c.close()));
  await host?.responder.stop();
});

describe('request and reply', () => {
  it('delivers the handler\'s result to the requester', async () => {
    const req = request();
    const reply = await ask(channel(), host.host, req, 5_000);
    expect(reply).toEqual({ v: PROTOCOL_VERSION, ok: true, result: { output: `console of ${req.server.id}` } });
  });

  it('carries a VmconsoleError back by code, and hides other failures behind Internal', async () => {
    const c = channel();
    // Thrown without operator detail, so its text is not trusted as tenant-safe: it becomes the detail.
    expect(await ask(c, host.host, request('refuse'), 5_000))
      .toEqual({ v: PROTOCOL_VERSION, ok: false, error: { code: 'NoConsole', message: 'This server has no console log.', detail: 'no console for this one' } });
    const crashed = await ask(c, host.host, request('crash'), 5_000);
    // The thrown text is operator detail; the message is the generic one.
    expect(crashed).toEqual({ v: PROTOCOL_VERSION, ok: false, error: { code: 'Internal', message: 'The request failed on the compute host.', detail: '/var/lib/secret/path exploded' } });
  });

  it('keeps 200 concurrent requests over two channels apart', async () => {
    const [a, b] = [channel(), channel()];
    const requests = Array.from({ length: 200 }, () => request('jitter'));
    const replies = await Promise.all(requests.map((req, i) => ask((i % 2 ? a : b), host.host, req, 20_000)));
    replies.forEach((reply, i) => expect(reply).toEqual({ v: PROTOCOL_VERSION, ok: true, result: { output: `console of ${requests[i]!.server.id}` } }));
  });

  it('creates one tagged reply queue per channel, even for concurrent first requests', async () => {
    const prefix = `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}once-${randomUUID().slice(0, 8)}-`;
    const c = channel(prefix);
    await Promise.all(Array.from({ length: 5 }, () => ask(c, host.host, request(), 5_000)));
    const { QueueUrls = [] } = await aws.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }));
    expect(QueueUrls).toHaveLength(1);
    const { Tags = {} } = await aws.sqs.send(new ListQueueTagsCommand({ QueueUrl: QueueUrls[0]! }));
    expect(Number(Tags[HEARTBEAT_TAG])).toBeGreaterThan(Date.now() - 60_000);
  });

  it('refuses an invalid request with a typed error before sending it', async () => {
    const bad = { ...request(), length: 'all' } as unknown as AgentRequest;
    await expect(ask(channel(), host.host, bad, 5_000)).rejects.toMatchObject({ code: 'Internal' });
  });

  it('refuses at construction a name prefix that leaves no room for the UUID in an 80-character queue name', () => {
    expect(() => new Requester({ sqs: aws.sqs, replyQueuePrefix: 'r'.repeat(45), hostQueuePrefix: 'h-' })).toThrow(/1-44/);
    expect(() => new Requester({ sqs: aws.sqs, replyQueuePrefix: 'reply.queue-', hostQueuePrefix: 'h-' })).toThrow(/1-44/);
    expect(() => new Requester({ sqs: aws.sqs, replyQueuePrefix: 'r-', hostQueuePrefix: 'host.queue-' })).toThrow(/1-40/);
  });

  it('answers HostDown when the host has no queue, naming the host only in the detail', async () => {
    const failure = await ask(channel(), 'nobody', request(), 5_000).catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: 'HostDown', message: 'The compute host of this server is down.' });
    expect((failure as VmconsoleError).detail).toMatch(/host nobody has no request queue/);
  });

  it('refuses a request id or a deadline an agent would refuse as poison, before sending anything', async () => {
    const c = channel();
    await expect(c.request(host.host, request(), { deadline: Date.now() + 5_000, requestId: 'req 1\nforged' })).rejects.toMatchObject({ code: 'Internal', detail: expect.stringMatching(/^requestId/) });
    await expect(c.request(host.host, request(), { deadline: Date.now() + 2 ** 32, requestId: 'req-1' })).rejects.toMatchObject({ code: 'Internal', detail: expect.stringMatching(/^deadline/) });
    await expect(c.request(host.host, request(), { deadline: 1.5, requestId: 'req-1' })).rejects.toMatchObject({ code: 'Internal', detail: expect.stringMatching(/^deadline/) });
  });

  it('refuses a host name that is not one, before sending anything', async () => {
    for (const bad of ['', '../x', 'a/b', 'x'.repeat(61), 'h?Action=DeleteQueue']) {
      await expect(ask(channel(), bad, request(), 5_000)).rejects.toMatchObject({ code: 'Internal' });
    }
  });
});

describe('a lost reply queue', () => {
  it('fails the requests that named it at once and replies on a freshly named queue afterwards', async () => {
    const prefix = `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}lost-${randomUUID().slice(0, 8)}-`;
    const c = channel(prefix);
    await ask(c, host.host, request(), 5_000);
    const listed = async () => (await aws.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls ?? [];
    const [original] = await listed();
    await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: original! }));

    const started = Date.now();
    await expect(ask(c, host.host, request(), 5_000)).rejects.toMatchObject({ code: 'TransportUnavailable' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await ask(c, host.host, request(), 5_000)).toMatchObject({ ok: true });
    const now = await listed();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(original);
  });
});

describe('a reply queue swept while its channel was quiet', () => {
  it('is checked before the next request and replaced, so that request is answered', async () => {
    const prefix = `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}sw-${randomUUID().slice(0, 8)}-`;
    const c = startRequester(aws, { replyQueuePrefix: prefix, revalidateAfterMs: 300 });
    channels.push(c);
    await ask(c, host.host, request(), 5_000);
    const listed = async () => (await aws.sqs.send(new ListQueuesCommand({ QueueNamePrefix: prefix }))).QueueUrls ?? [];
    const [original] = await listed();
    // The sweeper, run as if the channel had been quiet for sixteen minutes.
    expect((await sweepReplyQueues(aws.sqs, prefix, Date.now() + IDLE_AFTER_MS + 60_000)).deleted).toEqual([original]);
    await sleep(400);

    const next = request();
    expect(await ask(c, host.host, next, 5_000)).toMatchObject({ ok: true, result: { output: `console of ${next.server.id}` } });
    const now = await listed();
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(original);
    const { Tags = {} } = await aws.sqs.send(new ListQueueTagsCommand({ QueueUrl: now[0]! }));
    expect(Number(Tags[HEARTBEAT_TAG])).toBeGreaterThan(Date.now() - 5_000);
  });
});

describe('a malformed reply', () => {
  it('fails its request with Internal at once, is never delivered, and is deleted', async () => {
    const c = channel();
    const malformed: unknown[] = [];
    c.on('malformed_reply', (e) => malformed.push(e));
    const fakeHostName = `fake-${randomUUID().slice(0, 8)}`;
    const { QueueUrl: fakeHost } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}${fakeHostName}` }));
    const outcome = ask(c, fakeHostName, request(), 5_000);
    const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: fakeHost!, WaitTimeSeconds: 5, MessageAttributeNames: ['All'] }));
    const attrs = Messages[0]!.MessageAttributes!;
    const replyTo = attrs[ATTR.replyTo]!.StringValue!;
    const started = Date.now();
    await aws.sqs.send(new SendMessageCommand({
      QueueUrl: replyTo,
      MessageBody: JSON.stringify({ v: PROTOCOL_VERSION, ok: 'probably', result: { output: 'forged' } }),
      MessageAttributes: { [ATTR.correlationId]: { DataType: 'String', StringValue: attrs[ATTR.correlationId]!.StringValue! } },
    }));
    const failure = await outcome.catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(VmconsoleError);
    expect(failure).toMatchObject({ code: 'Internal' });
    expect(JSON.stringify(failure)).not.toContain('forged');
    expect(Date.now() - started).toBeLessThan(1_000);
    await waitFor(async () => (await queueDepth(aws.sqs, replyTo)) === 0, 5_000, 'the malformed reply to be deleted');
    expect(malformed).toEqual([{ correlationId: attrs[ATTR.correlationId]!.StringValue!, reason: expect.stringMatching(/reply schema/) }]);
  });
});

describe('deadlines', () => {
  it('times out with HostTimeout, and deletes the late reply when it arrives', async () => {
    const prefix = `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}late-${randomUUID().slice(0, 8)}-`;
    const c = channel(prefix);
    const discarded: Array<{ correlationId: string | undefined }> = [];
    c.on('reply_discarded', (e) => discarded.push(e));
    // A host that answers, but too late: a plain queue read by the test.
    const lateHostName = `late-${randomUUID().slice(0, 8)}`;
    const { QueueUrl: lateHost } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}${lateHostName}` }));
    const started = Date.now();
    const outcome = ask(c, lateHostName, request(), 800);
    const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: lateHost!, WaitTimeSeconds: 5, MessageAttributeNames: ['All'] }));
    expect(Messages).toHaveLength(1);
    await expect(outcome).rejects.toMatchObject({ code: 'HostTimeout' });
    expect(Date.now() - started).toBeLessThan(1_500);

    const attrs = Messages[0]!.MessageAttributes!;
    await aws.sqs.send(new SendMessageCommand({
      QueueUrl: attrs[ATTR.replyTo]!.StringValue!,
      MessageBody: JSON.stringify({ v: PROTOCOL_VERSION, ok: true, result: { output: 'too late' } }),
      MessageAttributes: { [ATTR.correlationId]: { DataType: 'String', StringValue: attrs[ATTR.correlationId]!.StringValue! } },
    }));
    // The next request's poller sees the late reply, discards and deletes it.
    const next = request();
    expect(await ask(c, host.host, next, 5_000)).toMatchObject({ ok: true, result: { output: `console of ${next.server.id}` } });
    await waitFor(async () => (await queueDepth(aws.sqs, attrs[ATTR.replyTo]!.StringValue!)) === 0, 5_000, 'the reply queue to be empty');
    expect(discarded).toContainEqual({ correlationId: attrs[ATTR.correlationId]!.StringValue });
  });

  it('drops a request whose deadline has passed without running it', async () => {
    const dropped: unknown[] = [];
    host.responder.on('dropped', (e) => dropped.push(e));
    const correlationId = randomUUID();
    const req = request();
    await sendRaw(aws.sqs, host.queueUrl, JSON.stringify(req), { correlationId, replyTo: `${host.replyQueueUrlPrefix}anything`, deadline: Date.now() - 1, requestId: 'req-too-late' });
    await waitFor(() => dropped.length > 0, 5_000, 'the request to be dropped');
    expect(dropped).toEqual([{ correlationId, requestId: 'req-too-late', reason: 'deadline' }]);
    expect(handled.some((h) => h.server.id === req.server.id)).toBe(false);
    await waitFor(async () => (await queueDepth(aws.sqs, host.queueUrl)) === 0, 5_000, 'the host queue to be empty');
  });

  it('does not reply when the work outlives the deadline', async () => {
    const dropped: Array<{ correlationId: string }> = [];
    host.responder.on('dropped', (e) => dropped.push(e));
    await expect(ask(channel(), host.host, request('slow'), 500)).rejects.toMatchObject({ code: 'HostTimeout' });
    await waitFor(() => dropped.length > 0, 5_000, 'the slow request to be dropped');
    await waitFor(async () => (await queueDepth(aws.sqs, host.queueUrl)) === 0, 5_000, 'the host queue to be empty');
  });
});

describe('duplicate delivery', () => {
  it('runs a request delivered twice once and replies once', async () => {
    const { QueueUrl: replyQueue } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}dup-${randomUUID()}` }));
    const duplicates: unknown[] = [];
    host.responder.on('duplicate', (e) => duplicates.push(e));
    const req = request();
    const correlationId = randomUUID();
    const attributes = { correlationId, replyTo: replyQueue!, deadline: Date.now() + 10_000 };
    await sendRaw(aws.sqs, host.queueUrl, JSON.stringify(req), attributes);
    await waitFor(async () => (await queueDepth(aws.sqs, replyQueue!)) === 1, 5_000, 'the first reply');
    await sendRaw(aws.sqs, host.queueUrl, JSON.stringify(req), attributes);
    await waitFor(() => duplicates.length === 1, 5_000, 'the duplicate to be recognised');
    await waitFor(async () => (await queueDepth(aws.sqs, host.queueUrl)) === 0, 5_000, 'the host queue to be empty');
    expect(handled.filter((h) => h.server.id === req.server.id)).toHaveLength(1);
    expect(await queueDepth(aws.sqs, replyQueue!)).toBe(1);
  });

  it('runs two copies that arrive together once and replies once', async () => {
    const { QueueUrl: replyQueue } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}dup2-${randomUUID()}` }));
    const duplicates: unknown[] = [];
    host.responder.on('duplicate', (e) => duplicates.push(e));
    // Slow, so the second copy is received while the first is still being worked on.
    const req = request('slow');
    const attributes = { correlationId: randomUUID(), replyTo: replyQueue!, deadline: Date.now() + 10_000, requestId: 'req-dup2' };
    await Promise.all([sendRaw(aws.sqs, host.queueUrl, JSON.stringify(req), attributes), sendRaw(aws.sqs, host.queueUrl, JSON.stringify(req), attributes)]);
    await waitFor(async () => (await queueDepth(aws.sqs, replyQueue!)) === 1, 5_000, 'the reply');
    await waitFor(async () => (await queueDepth(aws.sqs, host.queueUrl)) === 0, 5_000, 'the host queue to be empty');
    await sleep(300);
    expect(duplicates).toEqual([{ correlationId: attributes.correlationId, requestId: 'req-dup2' }]);
    expect(handled.filter((h) => h.server.id === req.server.id)).toHaveLength(1);
    const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: replyQueue!, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }));
    expect(Messages.map((m) => [m.MessageAttributes?.[ATTR.correlationId]?.StringValue, JSON.parse(m.Body!)]))
      .toEqual([[attributes.correlationId, { v: PROTOCOL_VERSION, ok: true, result: { output: `console of ${req.server.id}` } }]]);
  });
});

describe('latency', () => {
  it('measures send -> reply delivered, in process on fauxqs (median of 100)', async () => {
    const c = channel();
    await ask(c, host.host, request(), 5_000);
    const times: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      await ask(c, host.host, request(), 5_000);
      times.push(performance.now() - started);
    }
    times.sort((x, y) => x - y);
    const median = times[50]!;
    console.log(`request/reply round trip on fauxqs: median ${median.toFixed(1)} ms, p90 ${times[90]!.toFixed(1)} ms, max ${times[99]!.toFixed(1)} ms`);
    expect(median).toBeLessThan(50);
  });
});
