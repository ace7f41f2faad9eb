import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startFauxqs } from 'fauxqs';
import dynalite from 'dynalite';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClientOptions } from '../aws-client-options.ts';
import { ensureDirectoryTable } from '../directory/table.ts';

/** The two AWS services vmconsole uses, embedded in this process: fauxqs (SQS) and dynalite (DynamoDB). */
export interface EmbeddedAws {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  /** Take SQS away (fault injection); `startSqs` brings it back on the same port. */
  stopSqs(): Promise<void>;
  startSqs(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `sqsDataDir` makes fauxqs persist its queues (SQLite), so SQS can be stopped and started again on
 * the same port with its queues intact, as a real outage would leave them.
 */
export async function startEmbeddedAws(options: { sqsPort?: number; dynamodbPort?: number; sqsDataDir?: string } = {}): Promise<EmbeddedAws> {
  let sqs = await startFauxqs({ port: options.sqsPort ?? 0, host: '127.0.0.1', logger: false, ...(options.sqsDataDir && { dataDir: options.sqsDataDir }) });
  const sqsPort = sqs.port;
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  dynamo.listen(options.dynamodbPort ?? 0, '127.0.0.1');
  await once(dynamo, 'listening');
  const { port: dynamodbPort } = dynamo.address() as AddressInfo;
  return {
    sqsEndpoint: `http://127.0.0.1:${sqsPort}`,
    dynamodbEndpoint: `http://127.0.0.1:${dynamodbPort}`,
    async stopSqs() {
      await sqs.stop();
    },
    async startSqs() {
      sqs = await startFauxqs({ port: sqsPort, host: '127.0.0.1', logger: false, ...(options.sqsDataDir && { dataDir: options.sqsDataDir }) });
    },
    async stop() {
      await Promise.allSettled([sqs.stop(), new Promise<void>((resolve) => dynamo.close(() => resolve()))]);
    },
  };
}

/**
 * Environment that points vmconsole's processes at an embedded instance, with the table and queue
 * names of one `namespace` (local, bench, test-xyz), after creating that directory table.
 */
export async function prepareEmbeddedEnv(aws: EmbeddedAws, namespace: string): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    VMCONSOLE_SQS_ENDPOINT: aws.sqsEndpoint,
    VMCONSOLE_DYNAMODB_ENDPOINT: aws.dynamodbEndpoint,
    VMCONSOLE_TABLE: `vmconsole-${namespace}-directory`,
    VMCONSOLE_HOST_QUEUE_PREFIX: `vmconsole-${namespace}-host-`,
    VMCONSOLE_REPLY_QUEUE_PREFIX: `vmconsole-${namespace}-reply-`,
  };
  const dynamo = new DynamoDBClient(awsClientOptions(aws.dynamodbEndpoint, env));
  try {
    await ensureDirectoryTable(dynamo, env.VMCONSOLE_TABLE!);
  } finally {
    dynamo.destroy();
  }
  return env;
}
