/**
 * Queue-driven automation on a private fauxqs + dynalite: real agent processes (files driver) on
 * several hosts, the request queue with its DLQ, the local poller (lib/local/request-queue-poller.ts)
 * feeding the router function's handler, and clients' reply queues under the allowed prefix.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll } from 'vitest';
import { createHandler, type SqsHandler } from '../../functions/route-console-requests.ts';
import { BatchCollector } from '../../lib/automation/batch-collector.ts';
import type { RouterDeps } from '../../lib/automation/route-console-request.ts';
import { createRouterDependencies } from '../../lib/automation/wiring.ts';
import { RequestQueuePoller } from '../../lib/local/request-queue-poller.ts';
import { decodeAutomationReply } from '../../lib/transport/envelope.ts';
import { accountUrlOf } from '../../lib/transport/queue-naming.ts';
import { ensureRequestQueue } from '../../lib/transport/request-queue.ts';
import { kill, startAgentProcess } from './agent-process.ts';
import type { LocalAws } from './aws-local.ts';
import { recordingLogger } from './recording-logger.ts';
import { writeNamedInstances, type NamedServer } from './reliability-fixture.ts';
import { useLocalAws } from './suite-setup.ts';

export interface RigHost {
  host: string;
  projectId: string;
  servers: NamedServer[];
  agent: ChildProcess;
}

export interface AutomationRig {
  aws: LocalAws;
  hosts: RigHost[];
  /** Queue URL prefix of clients' reply queues, allowed by the router and the agents. */
  clientPrefix: string;
  requestQueueUrl: string;
  dlqUrl: string;
  deps: RouterDeps & { logger: ReturnType<typeof recordingLogger> };
  /** The router function as Lambda runs it, fed by the poller. */
  handler: SqsHandler;
  poller: RequestQueuePoller;
  /** A fresh client reply queue (under the allowed prefix unless another name prefix is given). */
  clientQueue(namePrefix?: string): Promise<string>;
  /** Put one request on the request queue, as a client does. */
  send(body: object | string): Promise<void>;
}

export interface RigOptions {
  hosts: Array<{ host: string; servers: number; projectId: string }>;
  /** More router environment (auth mode, rate limits, token rule). */
  routerEnv?: Record<string, string>;
  routerOverrides?: Partial<RouterDeps>;
  /** The request queue's visibility timeout: how soon a failed record is received again. */
  visibilityTimeoutS?: number;
}

/** A fake Lambda context with this long left: all the router reads of it. */
export function lambdaContext(remainingMs = 90_000): Context {
  const until = Date.now() + remainingMs;
  return { getRemainingTimeInMillis: () => until - Date.now(), awsRequestId: randomUUID(), functionName: 'vmconsole-test-routeConsoleRequests' } as Context;
}

/** An SQS event of these bodies, for invoking the handler directly (no queue in between). */
export function sqsEvent(...bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body): SQSRecord => ({
      messageId: randomUUID(), receiptHandle: randomUUID(), body, md5OfBody: '', eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:test-requests', awsRegion: 'us-east-1', messageAttributes: {},
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()), SenderId: 'test', ApproximateFirstReceiveTimestamp: String(Date.now()) },
    })),
  };
}

export function useAutomationRig(options: RigOptions): AutomationRig {
  const aws = useLocalAws();
  const rig = {} as AutomationRig;
  const stops: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    const work = await mkdtemp(join(tmpdir(), 'vmconsole-automation-'));
    stops.push(() => rm(work, { recursive: true, force: true }));
    const namespace = aws.env.VMCONSOLE_TABLE!.replace(/-directory$/, '');
    const visibilityTimeoutS = options.visibilityTimeoutS ?? 2;
    const { queueUrl, queueArn, dlqUrl } = await ensureRequestQueue(aws.sqs, { name: `${namespace}-requests`, visibilityTimeoutS });
    const clientPrefix = `${accountUrlOf(queueUrl)}${namespace}-client-`;

    const hosts: RigHost[] = [];
    await Promise.all(options.hosts.map(async ({ host, servers: count, projectId }, i) => {
      const instancesDir = join(work, host);
      const servers = await writeNamedInstances(instancesDir, count, projectId, i * 1000);
      const agent = await startAgentProcess(aws.env, {
        host, directory: aws.directory, instancesDir, logFile: join(work, `${host}.log`), heartbeatMs: 1_000,
        extraEnv: { VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: clientPrefix },
      });
      stops.push(() => kill(agent));
      hosts[i] = { host, projectId, servers, agent };
    }));

    const logger = recordingLogger();
    const deps = createRouterDependencies({
      ...aws.env,
      VMCONSOLE_AUTH_MODE: 'noauth',
      VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: clientPrefix,
      VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: '0',
      VMCONSOLE_QUEUE_RATE_API_PER_S: '0',
      ...options.routerEnv,
    }, { logger, ...options.routerOverrides }) as AutomationRig['deps'];
    stops.push(async () => (deps.requester as { close?: () => Promise<void> }).close?.());
    const handler = createHandler(deps);
    const poller = new RequestQueuePoller({ sqs: aws.sqs, queueUrl, queueArn, visibilityTimeoutS, batchSize: 5, invoke: (event) => handler(event, lambdaContext()) });
    poller.start();
    stops.push(() => poller.stop());

    Object.assign(rig, {
      aws, hosts, clientPrefix, requestQueueUrl: queueUrl, dlqUrl, deps, handler, poller,
      async clientQueue(namePrefix = `${namespace}-client-`) {
        return (await aws.sqs.send(new CreateQueueCommand({ QueueName: `${namePrefix}${randomUUID()}` }))).QueueUrl!;
      },
      async send(body: object | string) {
        await aws.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: typeof body === 'string' ? body : JSON.stringify(body) }));
      },
    } satisfies AutomationRig);
  }, 90_000);
  afterAll(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  return rig;
}

/**
 * Read `queueUrl` until the batch `requestId` is complete (or `timeoutMs`), then `lingerMs` more
 * for duplicates. Every message read is deleted.
 */
export async function collectBatch(sqs: SQSClient, queueUrl: string, requestId: string, { timeoutMs = 20_000, lingerMs = 0 } = {}): Promise<BatchCollector & { completedInMs: number | undefined }> {
  const collector = new BatchCollector(requestId) as BatchCollector & { completedInMs: number | undefined };
  const started = Date.now();
  let lingerUntil: number | undefined;
  while (Date.now() - started < timeoutMs && (lingerUntil === undefined || Date.now() < lingerUntil)) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const message of Messages) {
      const reply = decodeAutomationReply(message);
      if (reply) collector.add(reply);
    }
    if (Messages.length > 0) await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
    if (collector.complete && lingerUntil === undefined) {
      collector.completedInMs = Date.now() - started;
      lingerUntil = Date.now() + lingerMs;
    }
  }
  return collector;
}
