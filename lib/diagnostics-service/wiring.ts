import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientOptions } from '../aws-client-options.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { createLogger } from '../logger.ts';
import { readEdgeConfig } from '../nova-api/edge-config.ts';
import { logRequesterEvents } from '../transport/log-requester-events.ts';
import { Requester } from '../transport/requester.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { readDiagnosticsConfig } from './config.ts';
import { RecentAnalyses } from './diagnose-server.ts';
import { DiagnosesStore } from './diagnoses-store.ts';
import type { EventDeps } from './handle-crash-event.ts';
import { SnsDiagnosisPublisher } from './publish-diagnosis.ts';
import { S3ScreenshotStore } from './screenshots.ts';

/**
 * Crash diagnostics' dependencies, built once per execution environment: the edge's directory and
 * requester (to reach hosts as every edge function does), the diagnoses table and the SNS topic.
 * Parts given in `overrides` are used as they are (tests).
 */
export function createDiagnoseDependencies(env: NodeJS.ProcessEnv = process.env, overrides: Partial<EventDeps> = {}): EventDeps {
  const edge = readEdgeConfig(env);
  const config = readDiagnosticsConfig(env);
  return {
    directory: overrides.directory ?? new Directory(createDocumentClient(env), edge.tableName, { logger: createLogger('vmconsole-directory'), hostCacheMs: 1_000, serverCacheMs: 1_000 }),
    requester: overrides.requester ?? logRequesterEvents(
      new Requester({ sqs: createSqsClient(env), replyQueuePrefix: edge.replyQueuePrefix, hostQueuePrefix: edge.hostQueuePrefix }),
      createLogger('vmconsole-requester'),
    ),
    store: overrides.store ?? new DiagnosesStore(createDocumentClient(env), config.tableName, { retentionDays: config.retentionDays }),
    publisher: overrides.publisher ?? new SnsDiagnosisPublisher(new SNSClient(awsClientOptions(config.snsEndpoint, env)), config.topicArn),
    logger: overrides.logger ?? createLogger('vmconsole-diagnose'),
    recent: overrides.recent ?? new RecentAnalyses(),
    ...((overrides.screenshots ?? config.screenshotBucket) && {
      // Path-style against an emulator (fauxqs), as S3 clients must address it.
      screenshots: overrides.screenshots ?? new S3ScreenshotStore(new S3Client({ ...awsClientOptions(config.s3Endpoint, env), forcePathStyle: config.s3Endpoint !== undefined }), config.screenshotBucket!),
    }),
    ...(overrides.now && { now: overrides.now }),
  };
}
