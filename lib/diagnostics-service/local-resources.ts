import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { ensureRequestQueue } from '../transport/request-queue.ts';
import { ensureDiagnosesTable } from './diagnoses-table.ts';

/** `<service>-<stage>-events`: the public events queue of crash diagnostics. */
export const eventsQueueName = (service: string, stage: string) => `${service}-${stage}-events`;
export const diagnosesTopicName = (service: string, stage: string) => `${service}-${stage}-diagnoses`;
export const diagnosesTableName = (service: string, stage: string) => `${service}-${stage}-diagnoses`;

export interface DiagnosticsResources {
  eventsQueueUrl: string;
  eventsQueueArn: string;
  eventsDlqUrl: string;
  topicArn: string;
  tableName: string;
}

/**
 * The events queue (+ DLQ), the diagnoses topic and table, as serverless.yml declares them for a
 * deployment, for the local stack and the tests (no CloudFormation runs there). The queue has the
 * automation request queue's shape: a redrive policy to its DLQ after a few receives.
 */
export async function ensureDiagnosticsResources(
  clients: { sqs: SQSClient; sns: SNSClient; dynamodb: DynamoDBClient },
  { service, stage, visibilityTimeoutS }: { service: string; stage: string; visibilityTimeoutS: number },
): Promise<DiagnosticsResources> {
  const queue = await ensureRequestQueue(clients.sqs, { name: eventsQueueName(service, stage), visibilityTimeoutS });
  const { TopicArn } = await clients.sns.send(new CreateTopicCommand({ Name: diagnosesTopicName(service, stage) }));
  const tableName = diagnosesTableName(service, stage);
  await ensureDiagnosesTable(clients.dynamodb, tableName);
  return { eventsQueueUrl: queue.queueUrl, eventsQueueArn: queue.queueArn, eventsDlqUrl: queue.dlqUrl, topicArn: TopicArn!, tableName };
}
