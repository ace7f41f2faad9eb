import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { createHandler } from '../functions/route-console-requests.ts';
import { AGENT_COMMAND } from '../lib/agent/agent-command.ts';
import { enrolHost } from '../lib/agent/enrol-host.ts';
import { BatchCollector } from '../lib/automation/batch-collector.ts';
import { createRouterDependencies } from '../lib/automation/wiring.ts';
import { Directory } from '../lib/directory/directory.ts';
import { createDocumentClient } from '../lib/directory/dynamodb-client.ts';
import { prepareEmbeddedEnv, startEmbeddedAws } from '../lib/local/embedded-aws.ts';
import { decodeAutomationReply } from '../lib/transport/envelope.ts';
import { accountUrlOf } from '../lib/transport/queue-naming.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';
import { startCountingProxy } from './sqs-counting-proxy.ts';

const BOOT_LOG = fileURLToPath(new URL('../fixtures/boot-logs/clean-boot-panic.log', import.meta.url));
const HOSTS = 4;
const SERVERS_PER_HOST = 250;

export interface AutomationBatchRow {
  round: number;
  servers: number;
  /** From the router's invocation to the client holding every seq. */
  lastReplyMs: number;
  repliesPerSecond: number;
  routerMs: number;
  failed: number;
  duplicates: number;
}

/**
 * A 1,000-server project over four agent processes (files driver, 250 servers each, every log the
 * captured ~17 KB boot log), asked in one automation request: the router handler in this process
 * (as Lambda would run it), the agents answering the client's reply queue, the client reading it.
 * Every SQS call (agents, router, client) goes through the counting proxy, so the calls per server
 * output are the whole system's.
 */
export async function benchAutomationBatch(rounds = 2) {
  const aws = await startEmbeddedAws();
  const counter = await startCountingProxy(aws.sqsEndpoint);
  const work = await mkdtemp(join(tmpdir(), 'vmconsole-bench-automation-'));
  const env: Record<string, string> = { ...(await prepareEmbeddedEnv(aws, 'bench')), VMCONSOLE_SQS_ENDPOINT: counter.endpoint, POWERTOOLS_LOG_LEVEL: 'ERROR' };
  const sqs = createSqsClient(env);
  const { QueueUrl: probe } = await sqs.send(new CreateQueueCommand({ QueueName: 'vmconsole-bench-probe' }));
  const clientPrefix = `${accountUrlOf(probe!)}vmconsole-bench-client-`;
  const log = await readFile(BOOT_LOG);
  const directory = new Directory(createDocumentClient(env), env.VMCONSOLE_TABLE!);
  const agents: ChildProcess[] = [];
  const deps = createRouterDependencies({
    ...process.env, ...env, VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: clientPrefix,
    VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: '0', VMCONSOLE_QUEUE_RATE_API_PER_S: '0',
  }, {
    // The tables are the output; a warning or an error still shows.
    logger: { debug: () => undefined, info: () => undefined, warn: (...a: unknown[]) => console.warn(...a), error: (...a: unknown[]) => console.error(...a) },
  });
  const handler = createHandler(deps);
  try {
    for (let h = 0; h < HOSTS; h++) {
      const instancesDir = join(work, `host-${h}`);
      for (let i = 0; i < SERVERS_PER_HOST; i++) {
        const id = `00000000-0000-4000-8${h}00-${String(i + 1).padStart(12, '0')}`;
        await mkdir(join(instancesDir, id), { recursive: true });
        await writeFile(join(instancesDir, id, 'instance.json'), JSON.stringify({ name: `bench-${h}-${String(i).padStart(3, '0')}`, projectId: 'bench', userId: 'bench' }));
        await writeFile(join(instancesDir, id, 'console.log'), log);
      }
      await enrolHost({ ...process.env, ...env }, { host: `bench-${h}`, hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX! });
      const startedAt = Date.now();
      agents.push(spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), {
        env: { ...process.env, ...env, VMCONSOLE_HOST: `bench-${h}`, VMCONSOLE_DRIVER: 'files', VMCONSOLE_INSTANCES_DIR: instancesDir, VMCONSOLE_LOG_ROOTS: instancesDir, VMCONSOLE_HEARTBEAT_MS: '10000', VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: clientPrefix },
        stdio: ['ignore', 'ignore', 'inherit'],
      }));
      for (;;) {
        const host = await directory.getHost(`bench-${h}`);
        if (host && host.heartbeatAt >= startedAt) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    const batch = async (round: number): Promise<AutomationBatchRow> => {
      const { QueueUrl: replyTo } = await sqs.send(new CreateQueueCommand({ QueueName: `vmconsole-bench-client-${randomUUID()}` }));
      const requestId = `bench-${round}-${randomUUID()}`;
      const event: SQSEvent = { Records: [{
        messageId: randomUUID(), receiptHandle: 'bench', body: JSON.stringify({ v: 1, requestId, replyTo, kind: 'console.output', length: null, project: 'bench' }),
        attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'bench', ApproximateFirstReceiveTimestamp: String(Date.now()) },
        messageAttributes: {}, md5OfBody: '', eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:vmconsole-bench-requests', awsRegion: 'us-east-1',
      }] };
      const started = performance.now();
      const until = Date.now() + 90_000;
      const context = { getRemainingTimeInMillis: () => until - Date.now() } as Context;
      let routerMs = 0;
      const routed = handler(event, context).then(() => (routerMs = performance.now() - started));
      const collector = new BatchCollector(requestId);
      while (!collector.complete && Date.now() < until) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: replyTo, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
        for (const m of Messages) {
          const reply = decodeAutomationReply(m);
          if (reply) collector.add(reply);
        }
        if (Messages.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: replyTo, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
      const lastReplyMs = performance.now() - started;
      await routed;
      const total = collector.total ?? 0;
      return {
        round, servers: total, lastReplyMs, repliesPerSecond: (total * 1000) / lastReplyMs, routerMs,
        failed: collector.replies.filter((r) => !r.ok).length + collector.missing().length, duplicates: collector.duplicates,
      };
    };

    await batch(0); // warm-up: JIT, connections, the router's reply queue, directory caches
    counter.reset();
    const rows: AutomationBatchRow[] = [];
    for (let round = 1; round <= rounds; round++) rows.push(await batch(round));
    const calls = counter.snapshot();
    const outputs = rows.reduce((n, r) => n + r.servers, 0);
    const perOutput = Object.fromEntries(Object.entries(calls.calls).map(([action, n]) => [action, n / outputs]));
    return { rows, sqsCallsPerServerOutput: perOutput, sqsRequestsPerServerOutput: Object.values(calls.calls).reduce((a, b) => a + b, 0) / outputs, billedChunksPerServerOutput: calls.billedChunks / outputs };
  } finally {
    await (deps.requester as { close?: () => Promise<void> }).close?.();
    for (const agent of agents) {
      agent.kill('SIGTERM');
      if (agent.exitCode === null) await once(agent, 'exit');
    }
    sqs.destroy();
    await counter.close();
    await aws.stop();
    await rm(work, { recursive: true, force: true });
  }
}
