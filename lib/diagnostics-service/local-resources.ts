import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { ensureRequestQueue } from '../transport/request-queue.ts';
import { ensureDiagnosesTable } from './diagnoses-table.ts';

/** `<service>-<stage>-events`: the public events queue of crash diagnostics. */
export const eventsQueueName = (service: string, stage: string) => `${service}-${stage}-events`;
export const diagnosesTopicName = (service: string, stage: string) => `${service}-${stage}-diagnoses`;
export const diagnosesTableName = (service: string, stage: string) => `${service}-${stage}-diagnoses`;
export const screenshotBucketName = (service: string, stage: string) => `${service}-${stage}-screenshots`;

export interface DiagnosticsResources {
  eventsQueueUrl: string;
  eventsQueueArn: string;
  eventsDlqUrl: string;
  topicArn: string;
  tableName: string;
  /** Present when an S3 client was given. */
  screenshotBucket?: string;
}

/**
 * The events queue (+ DLQ), the diagnoses topic and table, as serverless.yml declares them for a
 * deployment, for the local stack and the tests (no CloudFormation runs there). The queue has the
 * automation request queue's shape: a redrive policy to its DLQ after a few receives.
 */
export async function ensureDiagnosticsResources(
  clients: { sqs: SQSClient; sns: SNSClient; dynamodb: DynamoDBClient; s3?: S3Client },
  { service, stage, visibilityTimeoutS }: { service: string; stage: string; visibilityTimeoutS: number },
): Promise<DiagnosticsResources> {
  const queue = await ensureRequestQueue(clients.sqs, { name: eventsQueueName(service, stage), visibilityTimeoutS });
  const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: diagnosesTopicName(service, stage) }));
  const tableName = diagnosesTableName(service, stage);
  await ensureDiagnosesTable(clients.dynamodb, tableName);
  let screenshotBucket: string | undefined;
  if (clients.s3) {
    screenshotBucket = screenshotBucketName(service, stage);
    await clients.s3.send(new CreateBucketCommand({ Bucket: screenshotBucket })).catch((err: { name?: string }) => {
      if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
    });
  }
  return { eventsQueueUrl: queue.queueUrl, eventsQueueArn: queue.queueArn, eventsDlqUrl: queue.dlqUrl, topicArn: TopicArn!, tableName, ...(screenshotBucket && { screenshotBucket }) };
}
