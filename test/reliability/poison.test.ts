/**
 * Fault: poison on a real agent's host queue — bodies that are not JSON or not requests, missing
 * attributes, and replyTo values aimed at queues the agent must never write to — more of it than
 * the agent's concurrency, while tenants keep asking for console output.
 * The system must answer every good request promptly, never write to a foreign queue, and leave
 * each poison message for SQS to move to the DLQ after 3 receives.
 */
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { ATTRIBUTE as ATTR } from '../../lib/transport/envelope.ts';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { Ledger, novaTail, tenant } from '../helpers/reliability-fixture.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';
import { queueCounts, sendRaw } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const rel = useAgentOnLocalAws({ host: 'poison-host', servers: 5 });
const ledger = new Ledger();

afterAll(() => {
  console.log(ledger.summary('reliability/poison'));
});

it('keeps answering tenants while 40 poison messages are redriven to the DLQ, and writes to no foreign queue', async () => {
  const { aws, servers, hostQueueUrl } = rel;
  const dlqUrl = `${hostQueueUrl}-dlq`;
  const account = hostQueueUrl.slice(0, hostQueueUrl.lastIndexOf('/') + 1);
  const prefix = `${account}${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}`;
  const victim = (await aws.sqs.send(new CreateQueueCommand({ QueueName: 'vmconsole-test-host-victim' }))).QueueUrl!;
  const legit = (await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}legit-${randomUUID()}` }))).QueueUrl!;
  const good = JSON.stringify({ v: PROTOCOL_VERSION, kind: 'console.output', server: { id: servers[0]!.id, instanceName: servers[0]!.id }, length: null });
  const deadline = Date.now() + 120_000;
  const attrs = (replyTo: string | undefined = legit) => ({ correlationId: randomUUID(), ...(replyTo !== undefined && { replyTo }), deadline });
  const kinds: Array<[string, string, Parameters<typeof sendRaw>[3]]> = [
    ['not JSON', '\u00ff{{<xml/>', attrs()],
    ['deeply nested JSON', `${'['.repeat(50_000)}${']'.repeat(50_000)}`, attrs()],
    ['unknown kind', JSON.stringify({ v: PROTOCOL_VERSION, kind: 'shell.exec', command: 'id' }), attrs()],
    ['extra key', JSON.stringify({ ...JSON.parse(good), path: '/etc/passwd' }), attrs()],
    ['no deadline', good, { correlationId: randomUUID(), replyTo: legit }],
    ['no correlationId', good, { replyTo: legit, deadline }],
    ['another account', good, attrs(legit.replace(account, account.replace(/\/\d+\/$/, '/999999999999/')))],
    ['outside the prefix', good, attrs(victim)],
    ['dot-dot', good, attrs(`${prefix}x/../vmconsole-test-host-victim`)],
    ['%2e%2e', good, attrs(`${prefix}x/%2e%2e/vmconsole-test-host-victim`)],
    ['query string', good, attrs(`${legit}?QueueUrl=${encodeURIComponent(victim)}`)],
    ['another host', good, attrs(legit.replace(/^http:\/\/[^/]+/, 'http://attacker.example:80'))],
  ];
  const poison = Array.from({ length: 40 }, (_, i) => kinds[i % kinds.length]!);
  const edge = {
    directory: new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!, { hostCacheMs: 1_000 }),
    requester: new Requester({ sqs: aws.sqs, replyQueuePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! }),
  };
  const ask = (i: number) => {
    const server = servers[i % servers.length]!;
    const length = i % 5;
    return ledger.track(async () => {
      const started = performance.now();
      const output = await getConsoleOutput({ principal: tenant(server.projectId), serverId: server.id, length, requestId: `req-${i}`, deadline: Date.now() + 10_000 }, edge);
      return { output, ms: performance.now() - started };
    }, ({ value, error }) => {
      if (error !== undefined) return `good request ${i} failed: ${String(error)}`;
      if (value!.output !== novaTail(server.log, length)) return `good request ${i} got the wrong output`;
      return value!.ms < 1_000 ? 'answered' : `good request ${i} took ${Math.round(value!.ms)} ms`;
    });
  };

  try {
    for (const [, body, attributes] of poison) await sendRaw(aws.sqs, hostQueueUrl, body, attributes);
    ledger.faults += poison.length;
    // Tenants keep asking, in waves, while the poison is received, backed off and received again.
    let i = 0;
    const until = Date.now() + 6_000;
    while (Date.now() < until) {
      await Promise.all(Array.from({ length: 10 }, () => ask(i++)));
      await sleep(200);
    }
    expect(ledger.problems).toEqual([]);

    await waitFor(async () => (await queueCounts(aws.sqs, dlqUrl)).visible === poison.length, 30_000, 'all poison to reach the DLQ');
    expect(await queueCounts(aws.sqs, hostQueueUrl)).toEqual({ visible: 0, inFlight: 0 });
    // Every poison message is in the DLQ, none answered or dropped on the way.
    const inDlq: string[] = [];
    while (inDlq.length < poison.length) {
      const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], VisibilityTimeout: 60 }));
      if (Messages.length === 0) break;
      inDlq.push(...Messages.map((m) => m.MessageAttributes?.[ATTR.correlationId]?.StringValue ?? m.Body!.slice(0, 40)));
    }
    expect(inDlq).toHaveLength(poison.length);
    expect(await queueCounts(aws.sqs, victim)).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueCounts(aws.sqs, legit)).toEqual({ visible: 0, inFlight: 0 });
    expect(ledger.lost).toBe(0);
  } finally {
    await edge.requester.close();
  }
}, 60_000);

it('answers a well-formed request naming another server\'s files with a typed refusal, never the file', async () => {
  const { aws, servers, hostQueueUrl } = rel;
  const replyQueue = (await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX}probe-${randomUUID()}` }))).QueueUrl!;
  const [a, b] = [servers[0]!, servers[1]!];
  const probes = [
    { id: a.id, instanceName: b.id },
    { id: a.id, instanceName: `../${b.id}` },
    { id: a.id, instanceName: `${a.id}/../${b.id}` },
    { id: a.id, instanceName: '/etc' },
  ];
  for (const server of probes) {
    ledger.faults += 1;
    await sendRaw(aws.sqs, hostQueueUrl, JSON.stringify({ v: PROTOCOL_VERSION, kind: 'console.output', server, length: null }), { correlationId: `probe-${server.instanceName}`, replyTo: replyQueue, deadline: Date.now() + 10_000 });
  }
  const replies = new Map<string, unknown>();
  await waitFor(async () => {
    const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: replyQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
    for (const m of Messages) replies.set(m.MessageAttributes![ATTR.correlationId]!.StringValue!, JSON.parse(m.Body!));
    return replies.size === probes.length;
  }, 10_000, 'a reply to every probe');
  for (const server of probes) {
    ledger.sent += 1;
    const reply = replies.get(`probe-${server.instanceName}`);
    expect(reply).toMatchObject({ ok: false, error: { code: 'ServerNotFound' } });
    expect(JSON.stringify(reply)).not.toContain('boot of server');
    ledger.refusedAsExpected += 1;
  }
});
