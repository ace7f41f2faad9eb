import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Principal } from '../../lib/auth/principal.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { ensureDirectoryTable } from '../../lib/directory/table.ts';
import { AGENT_COMMAND } from '../../lib/local/local-stack.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { sleep, waitFor } from '../transport/transport-fixture.ts';

/** Servers whose logs name them on every line, so a mixed-up answer cannot pass for a right one. */
export interface NamedServer {
  id: string;
  name: string;
  projectId: string;
  log: string;
}

/** `count` files-driver instance dirs under `instancesDir`, each with its own log (lines vary per server). */
export async function writeNamedInstances(instancesDir: string, count: number, projectId = 'rel'): Promise<NamedServer[]> {
  const servers: NamedServer[] = [];
  for (let i = 0; i < count; i++) {
    const id = `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`;
    const name = `rel-${i}`;
    const lines = Array.from({ length: 20 + (i % 7) * 5 }, (_, n) => `boot of server ${id} line ${n}`);
    const log = `${lines.join('\n')}\n`;
    const dir = join(instancesDir, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'instance.json'), JSON.stringify({ name, projectId, userId: `${projectId}-user` }));
    await writeFile(join(dir, 'console.log'), log);
    servers.push({ id, name, projectId, log });
  }
  return servers;
}

/**
 * Nova's answer for an ASCII log without control characters, written from Nova's definition
 * (`"\n".join(log.split("\n")[-length:])`, Python slicing) rather than from our implementation.
 */
export function novaTail(log: string, length: number | null): string {
  if (length === null) return log;
  if (length === 0) return '';
  // Python's [-n:] for n > 0 and [1:] for -1 are both JavaScript's slice(-length).
  return log.split('\n').slice(-length).join('\n');
}

export const tenant = (projectId: string): Principal => ({ userId: `${projectId}-user`, projectId, roles: [], isAdmin: false });

/**
 * A real agent process (files driver) joined to `env`'s SQS and DynamoDB; resolves once it has
 * heartbeated, which it does only after publishing its inventory.
 */
export async function startAgentProcess(
  env: Record<string, string>,
  options: { host: string; instancesDir: string; logFile: string; directory: Directory; extraEnv?: Record<string, string> },
): Promise<ChildProcess> {
  const startedAt = Date.now();
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), {
      env: {
        ...process.env,
        ...env,
        VMCONSOLE_HOST: options.host,
        VMCONSOLE_DRIVER: 'files',
        VMCONSOLE_INSTANCES_DIR: options.instancesDir,
        VMCONSOLE_LOG_ROOTS: options.instancesDir,
        VMCONSOLE_HEARTBEAT_MS: '1000',
        POWERTOOLS_LOG_LEVEL: 'WARN',
        ...options.extraEnv,
      },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`agent exited with code ${child.exitCode} (see ${options.logFile})`);
    const record = await options.directory.getHost(options.host);
    return record !== undefined && record.heartbeatAt >= startedAt;
  }, 30_000, `agent ${options.host} to register`);
  return child;
}

/** SIGKILL a child this test started, and wait until it is gone. */
export async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

export async function queueCounts(sqs: SQSClient, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await sqs.send(new GetQueueAttributesCommand({
    QueueUrl: queueUrl,
    AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
  }));
  return { visible: Number(Attributes.ApproximateNumberOfMessages), inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible) };
}

export { sleep, waitFor };

/**
 * What a file did to the system: every request sent is either answered (right answer to the
 * right caller), or refused with the error the fault calls for; anything else is lost.
 */
export class Ledger {
  sent = 0;
  answered = 0;
  refusedAsExpected = 0;
  faults = 0;
  readonly problems: string[] = [];

  get lost(): number {
    return this.sent - this.answered - this.refusedAsExpected;
  }

  /** Run one request; `judge` says whether its outcome is the right one. */
  async track<T>(request: () => Promise<T>, judge: (outcome: { value?: T; error?: unknown }) => 'answered' | 'refused' | string): Promise<void> {
    this.sent += 1;
    let outcome: { value?: T; error?: unknown };
    try {
      outcome = { value: await request() };
    } catch (error) {
      outcome = { error };
    }
    const verdict = judge(outcome);
    if (verdict === 'answered') this.answered += 1;
    else if (verdict === 'refused') this.refusedAsExpected += 1;
    else this.problems.push(verdict);
  }

  summary(file: string): string {
    return `${file}: requests sent ${this.sent}, served ${this.answered}, refused as the fault requires ${this.refusedAsExpected}, faults injected ${this.faults}, messages lost = ${this.lost}`;
  }
}

export interface RemoteAws {
  env: Record<string, string>;
  sqs: SQSClient;
  ddb: DynamoDBDocumentClient;
  directory: Directory;
  stop(): Promise<void>;
}

/** Like startLocalAws, but fauxqs and dynalite run in a child process (test/reliability/aws-process.ts). */
export async function startAwsProcess(): Promise<RemoteAws> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./aws-process.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  const lines = createInterface({ input: child.stdout! });
  const [first] = await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => { throw new Error('the AWS process exited before it was ready'); })]) as [string];
  lines.close();
  const { sqsEndpoint, dynamodbEndpoint } = JSON.parse(first) as { sqsEndpoint: string; dynamodbEndpoint: string };
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    VMCONSOLE_SQS_ENDPOINT: sqsEndpoint,
    VMCONSOLE_DYNAMODB_ENDPOINT: dynamodbEndpoint,
    VMCONSOLE_TABLE: `vmconsole-test-${randomUUID().slice(0, 8)}`,
    VMCONSOLE_REPLY_QUEUE_PREFIX: 'vmconsole-test-reply-',
    VMCONSOLE_HOST_QUEUE_PREFIX: 'vmconsole-test-host-',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  try {
    const dynamo = new DynamoDBClient({ endpoint: dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    await ensureDirectoryTable(dynamo, env.VMCONSOLE_TABLE!);
    dynamo.destroy();
  } catch (err) {
    await stop();
    throw err;
  }
  const sqs = createSqsClient(env);
  const ddb = createDocumentClient(env);
  return {
    env,
    sqs,
    ddb,
    directory: new Directory(ddb, env.VMCONSOLE_TABLE!),
    async stop() {
      sqs.destroy();
      ddb.destroy();
      await stop();
    },
  };
}
