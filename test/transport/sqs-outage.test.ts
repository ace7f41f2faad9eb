import { afterAll, beforeAll, expect, it } from 'vitest';
import { isVmconsoleError } from '../../lib/errors.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, consoleRequest, startHost, startRequester, type HostUnderTest, serverIdOf } from '../helpers/transport-fixture.ts';
import { sleep } from '../helpers/wait.ts';

const aws = useLocalAws({ persistentSqs: true });
let host: HostUnderTest;

beforeAll(async () => {
  // No listeners at all: SQS errors must not end the responder.
  host = await startHost(aws, 'outage-host', { handle: async (request) => ({ output: serverIdOf(request) }) });
});
afterAll(async () => {
  await host?.responder.stop();
});

it('fails fast with TransportUnavailable while SQS is down, and works again once it is back', async () => {
  const channel = startRequester(aws, { sqs: createSqsClient(aws.env) });
  expect(await ask(channel, host.host, consoleRequest(), 5_000)).toMatchObject({ ok: true });

  await aws.stopSqs();
  const started = Date.now();
  const failure = await ask(channel, host.host, consoleRequest(), 10_000).catch((err: unknown) => err);
  expect(isVmconsoleError(failure) && failure.code).toBe('TransportUnavailable');
  // The SDK's text (connect ECONNREFUSED 127.0.0.1:port) is operator detail, never the message.
  expect(failure).toMatchObject({ message: 'The message queue service is unavailable. Try again shortly.', detail: expect.stringMatching(/ECONNREFUSED|socket|connect/i) });
  expect(Date.now() - started).toBeLessThan(2_000);
  // A fresh channel cannot even create its reply queue: the same answer, as fast.
  const fresh = startRequester(aws, { sqs: createSqsClient(aws.env) });
  await expect(ask(fresh, host.host, consoleRequest(), 10_000)).rejects.toMatchObject({ code: 'TransportUnavailable' });

  await sleep(3_000); // the consumer retries through its longest backoff
  await aws.startSqs();
  const request = consoleRequest();
  const back = Date.now();
  expect(await ask(channel, host.host, request, 8_000)).toMatchObject({ ok: true, result: { output: serverIdOf(request) } });
  expect(await ask(fresh, host.host, consoleRequest(), 8_000)).toMatchObject({ ok: true });
  expect(Date.now() - back).toBeLessThan(5_000);
  await Promise.all([channel.close(), fresh.close()]);
});
