import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { prepareEmbeddedEnv, startEmbeddedAws } from '../../lib/local/embedded-aws.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';

export interface LocalAws {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  sqs: SQSClient;
  ddb: DynamoDBDocumentClient;
  directory: Directory;
  /** Environment for processes (agents) and modules that should use this instance. */
  env: Record<string, string>;
  /** Take SQS away and bring it back on the same port (queues survive only with `sqsDataDir`). */
  stopSqs(): Promise<void>;
  startSqs(): Promise<void>;
  stop(): Promise<void>;
}

/** A private fauxqs + dynalite on free ports with a fresh directory table: one per test file. */
export async function startLocalAws(options: { sqsDataDir?: string } = {}): Promise<LocalAws> {
  const aws = await startEmbeddedAws(options);
  const env: Record<string, string> = { ...(await prepareEmbeddedEnv(aws, `test-${randomUUID().slice(0, 8)}`)), POWERTOOLS_LOG_LEVEL: 'ERROR' };
  const sqs = createSqsClient(env);
  const ddb = createDocumentClient(env);
  return {
    sqsEndpoint: aws.sqsEndpoint,
    dynamodbEndpoint: aws.dynamodbEndpoint,
    sqs,
    ddb,
    directory: new Directory(ddb, env.VMCONSOLE_TABLE!),
    env,
    stopSqs: () => aws.stopSqs(),
    startSqs: () => aws.startSqs(),
    async stop() {
      sqs.destroy();
      ddb.destroy();
      await aws.stop();
    },
  };
}
