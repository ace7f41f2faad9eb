/**
 * A real agent process as an operator meets it: a host queue that disappears (deleted, or SQS
 * reset) is back in service as soon as the host is enrolled again (the agent may not create
 * queues: IAM), and its log names each failed request by the edge's request id.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { expect, it } from 'vitest';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { isVmconsoleError } from '../../lib/errors.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { novaTail, tenant } from '../helpers/reliability-fixture.ts';
import { enrolTestHost } from '../helpers/agent-process.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';
import { eventually } from '../helpers/wait.ts';

const phoenix = useAgentOnLocalAws({ host: 'phoenix', servers: 2, agentEnv: { POWERTOOLS_LOG_LEVEL: 'INFO' } });

it('waits for its deleted queue to be enrolled again, says so in its log, and serves requests again within seconds of it', async () => {
  const { aws, servers, agentLog } = phoenix;
  const edge = {
    directory: new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!),
    requester: new Requester({ sqs: aws.sqs, replyQueuePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! }),
  };
  const server = servers[0]!;
  const ask = () => getConsoleOutput({ principal: tenant(server.projectId), serverId: server.id, length: 2, requestId: 'req-phoenix', deadline: Date.now() + 3_000 }, edge);
  try {
    expect(await ask()).toBe(novaTail(server.log, 2));
    const queueUrl = `${(await aws.directory.getHost('phoenix'))!.queueUrl}`;
    await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    await aws.sqs.send(new DeleteQueueCommand({ QueueUrl: `${queueUrl}-dlq` }));
    await eventually(() => readFile(agentLog, 'utf8'), (log) => /host queue is gone; waiting for the host to be enrolled again/.test(log), 15_000);
    // The operator enrols the host again (vmconsole-agent --enrol).
    await enrolTestHost(aws.env, 'phoenix');
    const deletedAt = Date.now();

    // Until the agent finds it, a request may find no queue (409) or wait on the new one.
    let served: string | undefined;
    while (served === undefined && Date.now() - deletedAt < 30_000) {
      served = await ask().catch((err: unknown) => {
        if (!isVmconsoleError(err) || !['HostDown', 'HostTimeout'].includes(err.code)) throw err;
        return undefined;
      });
    }
    const recoveredMs = Date.now() - deletedAt;
    console.log(`integration/host-queue-deleted: served again ${recoveredMs} ms after the host was enrolled again`);
    expect(served).toBe(novaTail(server.log, 2));
    expect(recoveredMs).toBeLessThan(10_000);
    // The queue came back as enrolment provisions it: with its redrive policy to a new DLQ.
    const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }));
    expect(JSON.parse(Attributes!.RedrivePolicy!).deadLetterTargetArn).toMatch(/phoenix-dlq$/);
  } finally {
    await edge.requester.close();
  }
}, 60_000);

it('logs a refused request with its request id, correlation id and the operator detail; the tenant gets none of it', async () => {
  const { aws, servers, instancesDir, agentLog } = phoenix;
  const server = servers[1]!;
  // The log is a directory: refused (Forbidden), with the path only in the detail.
  await rm(join(instancesDir, server.id, 'console.log'));
  await mkdir(join(instancesDir, server.id, 'console.log'));
  const edge = {
    directory: new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!),
    requester: new Requester({ sqs: aws.sqs, replyQueuePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! }),
  };
  try {
    const failure = await getConsoleOutput({ principal: tenant(server.projectId), serverId: server.id, length: null, requestId: 'req-refused-1', deadline: Date.now() + 5_000 }, edge).catch((err: unknown) => err);
    expect(failure).toMatchObject({ code: 'Forbidden', status: 403 });
    expect((failure as Error).message).not.toContain(instancesDir);
    expect((failure as { detail?: string }).detail).toContain(instancesDir);
    const entry = await eventually(async () => {
      const lines = (await readFile(agentLog, 'utf8')).split('\n').filter((l) => l.startsWith('{'));
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e.requestId === 'req-refused-1');
    }, (found) => found !== undefined);
    expect(entry).toMatchObject({ message: 'request refused', requestId: 'req-refused-1', kind: 'console.output', code: 'Forbidden', detail: expect.stringContaining(instancesDir) });
    expect(entry!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  } finally {
    await edge.requester.close();
  }
}, 30_000);
