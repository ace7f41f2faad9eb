/**
 * Fault: the SQS endpoint goes away and comes back (same port, queues kept) while a real agent
 * process and an edge environment (the use case with its Requester and Directory) keep running.
 * The system must answer 503 TransportUnavailable quickly while SQS is gone, and once it is back,
 * agent and edge must serve again by themselves, with no restart.
 * Queues must survive the outage: SQS persists them (persistentSqs).
 */
import { afterAll, expect, it } from 'vitest';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { isVmconsoleError } from '../../lib/errors.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { Ledger, novaTail, tenant } from '../helpers/reliability-fixture.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';
import { sleep } from '../helpers/wait.ts';

const rel = useAgentOnLocalAws({ host: 'outage-host', servers: 5, persistentSqs: true });
const ledger = new Ledger();

afterAll(() => {
  console.log(ledger.summary('reliability/sqs-outage'));
});

it('answers 503 within 3 s while SQS is gone, and serves again by itself once it is back', async () => {
  const { aws, servers, agent } = rel;
  const edge = {
    directory: new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!, { hostCacheMs: 1_000 }),
    requester: new Requester({ sqs: createSqsClient(aws.env), replyQueuePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! }),
  };
  const timed = async (i: number) => {
    const server = servers[i % servers.length]!;
    const started = performance.now();
    try {
      return { server, length: i % 4, output: await getConsoleOutput({ principal: tenant(server.projectId), serverId: server.id, length: i % 4, requestId: `req-${i}`, deadline: Date.now() + 10_000 }, edge), ms: performance.now() - started };
    } catch (error) {
      throw Object.assign(new Error('failed'), { error, ms: performance.now() - started });
    }
  };
  const served = (i: number) => ledger.track(() => timed(i), ({ value, error }) => {
    if (error !== undefined) return `request ${i} failed: ${String((error as { error: unknown }).error)}`;
    return value!.output === novaTail(value!.server.log, value!.length) ? 'answered' : `request ${i} got the wrong output`;
  });
  const pid = agent.pid;

  try {
    await Promise.all(Array.from({ length: 20 }, (_, i) => served(i)));
    expect(ledger.problems).toEqual([]);

    await aws.stopSqs();
    ledger.faults += 1;
    const during = Array.from({ length: 10 }, (_, i) => ledger.track(() => timed(100 + i), ({ error }) => {
      const { error: cause, ms } = (error ?? {}) as { error?: unknown; ms?: number };
      if (!isVmconsoleError(cause) || cause.code !== 'TransportUnavailable' || cause.status !== 503) return `request ${100 + i} during the outage: ${String(cause ?? 'answered')}`;
      return ms! < 3_000 ? 'refused' : `request ${100 + i} took ${Math.round(ms!)} ms to fail`;
    }));
    await Promise.all(during);
    expect(ledger.problems).toEqual([]);
    // Long enough for the agent's receive backoff to reach its ceiling.
    await sleep(4_000);

    await aws.startSqs();
    const back = performance.now();
    // No retry here: the first request after the outage must simply be answered.
    await served(200);
    expect(ledger.problems).toEqual([]);
    console.log(`reliability/sqs-outage: first answer ${Math.round(performance.now() - back)} ms after SQS came back`);
    expect(performance.now() - back).toBeLessThan(5_000);
    await Promise.all(Array.from({ length: 50 }, (_, i) => served(300 + i)));
    expect(ledger.problems).toEqual([]);
    expect(agent.pid).toBe(pid);
    expect(agent.exitCode).toBeNull();
    expect(ledger.lost).toBe(0);
  } finally {
    await edge.requester.close();
  }
}, 60_000);
