import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isVmconsoleError } from '../../lib/errors.ts';
import { ReplyChannel } from '../../lib/transport/reply-channel.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { startLocalAws, type LocalAws } from '../helpers/aws-local.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { consoleRequest, sleep, startHost, type HostUnderTest } from './transport-fixture.ts';

let aws: LocalAws;
let dataDir: string;
let host: HostUnderTest;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vmconsole-outage-'));
  aws = await startLocalAws({ sqsDataDir: dataDir });
  // No 'error' listener, exactly like the agent: SQS errors must not end the consumer.
  host = await startHost(aws, 'outage-host', { handle: async (request) => ({ output: request.server.id }), logger: recordingLogger() });
});
afterAll(async () => {
  await host?.consumer.stop();
  await aws?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

it('fails fast with TransportUnavailable while SQS is down, and works again once it is back', async () => {
  const channel = new ReplyChannel({ sqs: createSqsClient(aws.env), namePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, logger: recordingLogger() });
  expect(await channel.request(host.queueUrl, consoleRequest(), Date.now() + 5_000)).toMatchObject({ ok: true });

  await aws.stopSqs();
  const started = Date.now();
  const failure = await channel.request(host.queueUrl, consoleRequest(), Date.now() + 10_000).catch((err: unknown) => err);
  expect(isVmconsoleError(failure) && failure.code).toBe('TransportUnavailable');
  expect(Date.now() - started).toBeLessThan(2_000);
  // A fresh channel cannot even create its reply queue: the same answer, as fast.
  const fresh = new ReplyChannel({ sqs: createSqsClient(aws.env), namePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX! });
  await expect(fresh.request(host.queueUrl, consoleRequest(), Date.now() + 10_000)).rejects.toMatchObject({ code: 'TransportUnavailable' });

  await sleep(3_000); // the consumer retries through its longest backoff
  await aws.startSqs();
  const request = consoleRequest();
  const back = Date.now();
  expect(await channel.request(host.queueUrl, request, Date.now() + 8_000)).toMatchObject({ ok: true, result: { output: request.server.id } });
  expect(await fresh.request(host.queueUrl, consoleRequest(), Date.now() + 8_000)).toMatchObject({ ok: true });
  expect(Date.now() - back).toBeLessThan(5_000);
  await Promise.all([channel.close(), fresh.close()]);
});
