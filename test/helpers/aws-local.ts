import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { ensureDirectoryTable } from '../../lib/directory/table.ts';
import { prepareEmbeddedEnv, startEmbeddedAws } from '../../lib/local/embedded-aws.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';

/** SQS and DynamoDB as a test reaches them, wherever they run. */
export interface TestAws {
  sqs: SQSClient;
  ddb: DynamoDBDocumentClient;
  directory: Directory;
  /** Environment for processes (agents) and modules that should use this instance. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface LocalAws extends TestAws {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  /** Take SQS away and bring it back on the same port (queues survive only with `sqsDataDir`). */
  stopSqs(): Promise<void>;
  startSqs(): Promise<void>;
}

/** A private fauxqs + dynalite on free ports with a fresh directory table: one per test file. */
export async function startLocalAws(options: { sqsDataDir?: string } = {}): Promise<LocalAws> {
  const aws = await startEmbeddedAws(options);
  const env: Record<string, string> = { ...(await prepareEmbeddedEnv(aws, `test-${randomUUID().slice(0, 8)}`)), POWERTOOLS_LOG_LEVEL: 'ERROR' };
  const clients = clientsFor(env);
  return {
    ...clients,
    sqsEndpoint: aws.sqsEndpoint,
    dynamodbEndpoint: aws.dynamodbEndpoint,
    stopSqs: () => aws.stopSqs(),
    startSqs: () => aws.startSqs(),
    async stop() {
      await clients.stop();
      await aws.stop();
    },
  };
}

/**
 * Like startLocalAws, but fauxqs and dynalite run in a child process (aws-process.ts), as AWS is
 * remote from the edge: a test that loads them does not also starve its own clients' event loop.
 */
export async function startAwsProcess(): Promise<TestAws> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./aws-process.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stopChild = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  try {
    const lines = createInterface({ input: child.stdout! });
    const [first] = await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => { throw new Error('the AWS process exited before it was ready'); })]) as [string];
    lines.close();
    const { sqsEndpoint, dynamodbEndpoint } = JSON.parse(first) as { sqsEndpoint: string; dynamodbEndpoint: string };
    const namespace = `test-${randomUUID().slice(0, 8)}`;
    const env: Record<string, string> = {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      VMCONSOLE_SQS_ENDPOINT: sqsEndpoint,
      VMCONSOLE_DYNAMODB_ENDPOINT: dynamodbEndpoint,
      VMCONSOLE_TABLE: `vmconsole-${namespace}-directory`,
      VMCONSOLE_HOST_QUEUE_PREFIX: `vmconsole-${namespace}-host-`,
      VMCONSOLE_REPLY_QUEUE_PREFIX: `vmconsole-${namespace}-reply-`,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
    };
    const dynamo = new DynamoDBClient({ endpoint: dynamodbEndpoint, region: env.AWS_REGION!, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      await ensureDirectoryTable(dynamo, env.VMCONSOLE_TABLE!);
    } finally {
      dynamo.destroy();
    }
    const clients = clientsFor(env);
    return {
      ...clients,
      async stop() {
        await clients.stop();
        await stopChild();
      },
    };
  } catch (err) {
    await stopChild();
    throw err;
  }
}

function clientsFor(env: Record<string, string>): TestAws {
  const sqs = createSqsClient(env);
  const ddb = createDocumentClient(env);
  return {
    sqs,
    ddb,
    directory: new Directory(ddb, env.VMCONSOLE_TABLE!),
    env,
    async stop() {
      sqs.destroy();
      ddb.destroy();
    },
  };
}
