/**
 * Faults: SQS delivers a request twice (at-least-once), and a host answers after the caller gave
 * up. Callers are real Requesters, the host a real agent process; a relay between them, on a
 * queue no agent reads, injects the faults with the callers' own messages.
 * The system must give exactly one answer per request, to the caller that asked, and never hand
 * a late answer to a later request.
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, DeleteMessageCommand, ListQueuesCommand, ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type AgentRequest } from '../../lib/contracts/messages.ts';
import { ATTRIBUTE as ATTR } from '../../lib/transport/envelope.ts';
import { isVmconsoleError } from '../../lib/errors.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { Ledger, novaTail, type NamedServer } from '../helpers/reliability-fixture.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';
import { queueCounts } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const rel = useAgentOnLocalAws({ host: 'dup-host', servers: 10 });
let relayQueueUrl: string;
const RELAY_HOST = `relay-${randomUUID().slice(0, 8)}`;
const ledger = new Ledger();

const consoleRequest = (server: NamedServer, length: number): AgentRequest => ({
  v: PROTOCOL_VERSION, kind: 'console.output', server: { id: server.id, instanceName: server.id }, length,
});

/** A caller whose reply queue the test can find and whose discarded replies it can count. */
function caller(name: string) {
  const namePrefix = `${rel.aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}${name}-`;
  const channel = new Requester({ sqs: rel.aws.sqs, replyQueuePrefix: namePrefix, hostQueuePrefix: rel.aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! });
  let discarded = 0;
  channel.on('reply_discarded', () => (discarded += 1));
  const ask = (host: string, request: AgentRequest, ms: number) => channel.request(host, request, { deadline: Date.now() + ms, requestId: `req-${randomUUID()}` });
  return {
    channel,
    ask,
    discarded: () => discarded,
    replyQueue: async () => (await rel.aws.sqs.send(new ListQueuesCommand({ QueueNamePrefix: namePrefix }))).QueueUrls![0]!,
  };
}

/** Take the requests callers sent to the relay queue, as the agent would receive them. */
async function takeFromRelay(count: number): Promise<Message[]> {
  const taken: Message[] = [];
  while (taken.length < count) {
    const { Messages = [] } = await rel.aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: relayQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2, MessageAttributeNames: ['All'] }));
    for (const m of Messages) {
      taken.push(m);
      await rel.aws.sqs.send(new DeleteMessageCommand({ QueueUrl: relayQueueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
  }
  return taken;
}

/** Hand a caller's request to the agent, byte for byte, optionally with another deadline. */
async function forward(message: Message, deadline?: number): Promise<void> {
  const attrs = message.MessageAttributes!;
  await rel.aws.sqs.send(new SendMessageCommand({
    QueueUrl: rel.hostQueueUrl,
    MessageBody: message.Body!,
    MessageAttributes: deadline === undefined ? attrs : { ...attrs, [ATTR.deadline]: { DataType: 'Number', StringValue: String(deadline) } },
  }));
}

beforeAll(async () => {
  // A host queue no agent reads: callers address it by host name like any other.
  relayQueueUrl = (await rel.aws.sqs.send(new CreateQueueCommand({ QueueName: `${rel.aws.env.VMCONSOLE_HOST_QUEUE_PREFIX}${RELAY_HOST}` }))).QueueUrl!;
});

afterAll(() => {
  console.log(ledger.summary('reliability/duplicates-and-late-replies'));
});

describe('duplicate deliveries', () => {
  it('answers each request exactly once, to the caller that sent it, whether the copies arrive together or apart', async () => {
    const callers = [caller('dup-a'), caller('dup-b')];
    const requests = Array.from({ length: 40 }, (_, i) => ({ who: callers[i % 2]!, server: rel.servers[i % rel.servers.length]!, length: 1 + (i % 4) }));
    const outcomes = Promise.all(requests.map(({ who, server, length }, i) => ledger.track(
      () => who.ask(RELAY_HOST, consoleRequest(server, length), 15_000),
      ({ value, error }) => {
        if (error !== undefined) return `request ${i} failed: ${String(error)}`;
        return value?.ok && (value.result as { output: string }).output === novaTail(server.log, length) ? 'answered' : `request ${i} got ${JSON.stringify(value)}`;
      },
    )));
    const taken = await takeFromRelay(requests.length);
    // Half the copies arrive together (the second while the first is worked on), half apart
    // (the second after the first was answered and deleted).
    await Promise.all(taken.map(async (message, i) => {
      ledger.faults += 1;
      if (i % 2 === 0) {
        await Promise.all([forward(message), forward(message)]);
      } else {
        await forward(message);
        await sleep(300);
        await forward(message);
      }
    }));
    await outcomes;
    expect(ledger.problems).toEqual([]);

    // A second answer would sit in a reply queue (the pollers stop once nothing waits) or have
    // been discarded by a poller: neither happened.
    await waitFor(async () => {
      const { visible, inFlight } = await queueCounts(rel.aws.sqs, rel.hostQueueUrl);
      return visible + inFlight === 0;
    }, 5_000, 'the agent to consume every copy');
    await sleep(500);
    for (const who of callers) {
      expect(who.discarded()).toBe(0);
      expect(await queueCounts(rel.aws.sqs, await who.replyQueue())).toEqual({ visible: 0, inFlight: 0 });
      await who.channel.close();
    }
  }, 40_000);
});

describe('late replies', () => {
  it('times the request out, discards the late answer when it comes, and gives later requests their own answers', async () => {
    const who = caller('late');
    const late = rel.servers.slice(0, 6).map((server) => ({ server, length: 1 }));
    const lateOutcomes = Promise.all(late.map(({ server, length }, i) => ledger.track(
      () => who.ask(RELAY_HOST, consoleRequest(server, length), 1_000),
      ({ error }) => (isVmconsoleError(error) && error.code === 'HostTimeout' ? 'refused' : `late request ${i} was not a HostTimeout: ${String(error)}`),
    )));
    const held = await takeFromRelay(late.length);
    await lateOutcomes;
    expect(ledger.problems).toEqual([]);

    // Now the host answers them all (as if SQS or the host had been slow).
    for (const message of held) {
      ledger.faults += 1;
      await forward(message, Date.now() + 10_000);
    }
    const replyQueue = await who.replyQueue();
    // Each late answer lands in the reply queue, or was already taken and discarded by a poll that
    // was still waiting when the requests timed out: never handed to anyone.
    await waitFor(async () => (await queueCounts(rel.aws.sqs, replyQueue)).visible + who.discarded() === late.length, 5_000, 'the late answers to land in the reply queue or be discarded');

    // Same servers, other lengths: a late answer handed to one of these would not match.
    const next = rel.servers.slice(0, 6).map((server) => ({ server, length: 3 }));
    await Promise.all(next.map(({ server, length }, i) => ledger.track(
      () => who.ask('dup-host', consoleRequest(server, length), 10_000),
      ({ value, error }) => {
        if (error !== undefined) return `next request ${i} failed: ${String(error)}`;
        return value?.ok && (value.result as { output: string }).output === novaTail(server.log, length) ? 'answered' : `next request ${i} got ${JSON.stringify(value)}`;
      },
    )));
    expect(ledger.problems).toEqual([]);
    // The poller may still be deleting the last batch it received.
    await waitFor(() => who.discarded() === late.length, 5_000, 'every late answer to be discarded');
    await waitFor(async () => (await queueCounts(rel.aws.sqs, replyQueue)).visible + (await queueCounts(rel.aws.sqs, replyQueue)).inFlight === 0, 5_000, 'the reply queue to be empty');
    await who.channel.close();
    expect(ledger.lost).toBe(0);
  }, 40_000);
});
