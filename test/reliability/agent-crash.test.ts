/**
 * Fault: the agent dies (SIGKILL) holding a request it received but never answered — frozen
 * first with SIGSTOP so the crash lands exactly there — and a new agent starts. The whole stack
 * as `npm start` runs it (fauxqs, dynalite, real agent processes, serverless-offline).
 * The system must redeliver the request to the new agent when the caller still waits for it, and
 * otherwise give the caller a clear 504 (the host named only to operators); the new agent then serves everyone.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { kill } from '../helpers/agent-process.ts';
import { Ledger, novaTail, writeNamedInstances, type NamedServer } from '../helpers/reliability-fixture.ts';
import { useLocalStack } from '../helpers/suite-setup.ts';
import { queueCounts } from '../helpers/transport-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const local = useLocalStack('rel-crash', { heartbeatMs: 1_000 });
let servers: NamedServer[];
let agent: ChildProcess;
let hostQueueUrl: string;
const ledger = new Ledger();
let sqs: SQSClient;

beforeAll(async () => {
  const { stack } = local;
  agent = stack.agent;
  sqs = createSqsClient(stack.env);
  servers = await writeNamedInstances(stack.instancesDir, 3, 'demo');
  await waitFor(async () => (await stack.directory.getServer(servers[2]!.id)) !== undefined, 10_000, 'the agent to publish the new servers');
  hostQueueUrl = (await stack.directory.getHost(stack.host))!.queueUrl;
});

afterAll(() => {
  sqs?.destroy();
  console.log(ledger.summary('reliability/agent-crash'));
});

/** Freeze the agent and wait until the request it long-polled for is in its hands (in flight). */
async function crashHolding(send: () => void): Promise<void> {
  agent.kill('SIGSTOP');
  send();
  await waitFor(async () => (await queueCounts(sqs, hostQueueUrl)).inFlight === 1, 5_000, 'the frozen agent to hold the request');
  await kill(agent);
  ledger.faults += 1;
  agent = await local.stack.startAgent();
}

const setVisibility = (seconds: number) => sqs.send(new SetQueueAttributesCommand({ QueueUrl: hostQueueUrl, Attributes: { VisibilityTimeout: String(seconds) } }));

/** The edge's own account of a failure, since the work dir is removed afterwards. */
const tail = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => !/[│┌└]/.test(l)).slice(-15).join('\n');

const ask = (server: NamedServer, length: number) => fetch(`${local.stack.url}/v2.1/servers/${server.id}/action`, {
  method: 'POST',
  headers: { 'x-auth-token': 'demo:demo', 'content-type': 'application/json' },
  body: JSON.stringify({ 'os-getConsoleOutput': { length } }),
});

describe('agent killed holding a request', () => {
  it('redelivers it to the new agent, which answers before the caller\'s deadline (visibility 2 s, deadline 15 s)', async () => {
    await setVisibility(2);
    const { stack } = local;
    const channel = new Requester({ sqs, replyQueuePrefix: stack.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: stack.env.VMCONSOLE_HOST_QUEUE_PREFIX! });
    const server = servers[0]!;
    let outcome: Promise<void> | undefined;
    try {
      const started = Date.now();
      await crashHolding(() => {
        outcome = ledger.track(
          () => channel.request(stack.host, { v: PROTOCOL_VERSION, kind: 'console.output', server: { id: server.id, instanceName: server.id }, length: 2 }, { deadline: Date.now() + 15_000, requestId: 'req-crash' }),
          ({ value, error }) => (value?.ok && (value.result as { output: string }).output === novaTail(server.log, 2) ? 'answered' : `redelivered request: ${JSON.stringify(value) ?? String(error)}`),
        );
      });
      await outcome;
      expect(ledger.problems).toEqual([]);
      console.log(`reliability/agent-crash: request held by the killed agent answered by its successor after ${Date.now() - started} ms`);
      await waitFor(async () => {
        const { visible, inFlight } = await queueCounts(sqs, hostQueueUrl);
        return visible + inFlight === 0;
      }, 5_000, 'the redelivered request to be deleted');
    } finally {
      await channel.close();
    }
  }, 40_000);

  it('gives the HTTP caller a 504 that does not name the host when the request cannot come back in time (visibility 30 s, timeout 10 s); the new agent serves what follows', async () => {
    await setVisibility(30);
    const { stack } = local;
    const server = servers[1]!;
    const started = Date.now();
    let response: Promise<void> | undefined;
    // The message states how long the host itself was waited for: the 10 s budget less the lookups before.
    await crashHolding(() => {
      response = ledger.track(() => ask(server, 1).then(async (res) => ({ status: res.status, body: await res.json() as { computeFault?: { code: number; message: string } } })), ({ value, error }) => {
        if (error !== undefined) return `HTTP request failed: ${String(error)}`;
        const fault = value!.body.computeFault;
        return value!.status === 504 && fault?.code === 504 && !fault.message.includes(stack.host) && /did not answer within (9\.\d|10) s\.$/.test(fault.message)
          ? 'refused'
          : `expected a 504 not naming ${stack.host}, got ${value!.status} ${JSON.stringify(value!.body).slice(0, 200)}\noffline.log:\n${tail(join(stack.workDir, 'offline.log'))}`;
      });
    });
    await response;
    const elapsed = Date.now() - started;
    console.log(`reliability/agent-crash: HTTP caller answered after ${elapsed} ms`);
    expect(ledger.problems).toEqual([]);
    expect(elapsed).toBeGreaterThanOrEqual(10_000);
    expect(elapsed).toBeLessThan(14_000);

    // The restarted agent answers new requests, for every server, through HTTP. One at a time:
    // concurrent calls would each cold-start a Lambda environment in serverless-offline (~6 s).
    for (const s of servers) {
      for (const length of [0, 1, 3, -1]) {
        await ledger.track(
          () => ask(s, length).then(async (res) => ({ status: res.status, body: await res.json() as { output?: string } })),
          ({ value, error }) => (value?.status === 200 && value.body.output === novaTail(s.log, length) ? 'answered' : `after the restart: ${JSON.stringify(value) ?? String(error)}`),
        );
      }
    }
    expect(ledger.problems).toEqual([]);
    expect(ledger.lost).toBe(0);
  }, 40_000);
});
