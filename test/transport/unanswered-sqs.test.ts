import { afterAll, beforeAll, expect, it } from 'vitest';
import { isVmconsoleError } from '../../lib/errors.ts';
import { ReplyDestinations } from '../../lib/transport/queue-naming.ts';
import type { Requester } from '../../lib/transport/requester.ts';
import { Responder } from '../../lib/transport/responder.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { ask, consoleRequest, startHost, startRequester, type HostUnderTest, serverIdOf } from '../helpers/transport-fixture.ts';
import { sleep } from '../helpers/wait.ts';

// Connection refused is the easy outage (sqs-outage.test.ts); here SQS accepts and never answers.
const aws = useLocalAws();
let host: HostUnderTest;
const proxies: FaultProxy[] = [];
const channels: Requester[] = [];

beforeAll(async () => {
  host = await startHost(aws, 'unanswered-host', { handle: async (request) => ({ output: serverIdOf(request) }) });
});
afterAll(async () => {
  await Promise.all(channels.map((c) => c.close()));
  await host?.responder.stop();
  await Promise.all(proxies.map((p) => p.close()));
});

async function channelThrough(upstream?: string): Promise<{ channel: Requester; proxy: FaultProxy }> {
  const proxy = await startFaultProxy(upstream);
  proxies.push(proxy);
  const channel = startRequester(aws, { sqs: createSqsClient({ ...aws.env, VMCONSOLE_SQS_ENDPOINT: proxy.endpoint }) });
  channels.push(channel);
  return { channel, proxy };
}

const outcome = async (promise: Promise<unknown>): Promise<{ reply?: unknown; code?: string; ms: number }> => {
  const started = Date.now();
  const result = await promise.then((reply) => ({ reply }), (err: unknown) => ({ code: isVmconsoleError(err) ? err.code : String(err) }));
  return { ...result, ms: Date.now() - started };
};

it('settles every request by its deadline with TransportUnavailable when SQS never answers', async () => {
  const { channel } = await channelThrough();
  const results = await Promise.all([
    outcome(ask(channel, host.host, consoleRequest(), 800)),
    outcome(ask(channel, host.host, consoleRequest(), 400)),
  ]);
  expect(results.map((r) => r.code)).toEqual(['TransportUnavailable', 'TransportUnavailable']);
  expect(results[0]!.ms).toBeLessThan(1_300);
  expect(results[1]!.ms).toBeLessThan(900);
});

it('fails a send SQS never answers with TransportUnavailable at the deadline, then sends again', async () => {
  const { channel, proxy } = await channelThrough(aws.sqsEndpoint);
  expect(await ask(channel, host.host, consoleRequest(), 5_000)).toMatchObject({ ok: true });
  proxy.swallow.add('SendMessage');
  const stuck = await outcome(ask(channel, host.host, consoleRequest(), 800));
  expect(stuck.code).toBe('TransportUnavailable');
  expect(stuck.ms).toBeLessThan(1_300);
  proxy.swallow.clear();
  expect(await ask(channel, host.host, consoleRequest(), 5_000)).toMatchObject({ ok: true });
});

it('gives up a receive that is never answered once its wait is long over, and delivers replies again', async () => {
  const { channel, proxy } = await channelThrough(aws.sqsEndpoint);
  expect(await ask(channel, host.host, consoleRequest(), 5_000)).toMatchObject({ ok: true });
  proxy.swallow.add('ReceiveMessage');
  // The request reaches the host and is answered, but the poller's receive hangs: the host is late.
  expect((await outcome(ask(channel, host.host, consoleRequest(), 1_000))).code).toBe('HostTimeout');
  expect(proxy.swallowed).toBe(1);
  proxy.swallow.clear();
  const request = consoleRequest();
  const recovered = await outcome(ask(channel, host.host, request, 15_000));
  expect(recovered.reply).toEqual({ v: request.v, ok: true, result: { output: serverIdOf(request) } });
  // The hung receive waited at most 1 s and is abandoned 5 s after that (~5 s from here), well
  // before this request's deadline; the margin is for a loaded two-core machine.
  expect(recovered.ms).toBeLessThan(10_000);
});

it('stops a consumer whose receive SQS never answers at once', async () => {
  const proxy = await startFaultProxy();
  proxies.push(proxy);
  const consumer = new Responder({
    sqs: createSqsClient({ ...aws.env, VMCONSOLE_SQS_ENDPOINT: proxy.endpoint }),
    queueUrl: host.queueUrl,
    replyDestinations: new ReplyDestinations([host.replyQueueUrlPrefix]),
    handle: async () => ({ output: '' }),
  });
  consumer.start();
  await sleep(300);
  expect(proxy.swallowed).toBe(1);
  const started = Date.now();
  await consumer.stop();
  expect(Date.now() - started).toBeLessThan(500);
});
