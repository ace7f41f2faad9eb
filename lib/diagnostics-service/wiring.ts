import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { awsClientOptions } from '../aws-client-options.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { createLogger, DIAGNOSE_SERVICE } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { meterRequesterEvents } from '../transport/meter-requester-events.ts';
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
  // One service name per component: its directory and requester log as it does.
  const logger = overrides.logger ?? createLogger(DIAGNOSE_SERVICE);
  return {
    directory: overrides.directory ?? new Directory(createDocumentClient(env), edge.tableName, { logger, hostCacheMs: 1_000, serverCacheMs: 1_000 }),
    requester: overrides.requester ?? meterRequesterEvents(
      logRequesterEvents(new Requester({ sqs: createSqsClient(env), replyQueuePrefix: edge.replyQueuePrefix, hostQueuePrefix: edge.hostQueuePrefix }), logger),
      createMetrics(DIAGNOSE_SERVICE),
    ),
    store: overrides.store ?? new DiagnosesStore(createDocumentClient(env), config.tableName, { retentionDays: config.retentionDays }),
    publisher: overrides.publisher ?? new SnsDiagnosisPublisher(new SNSClient(awsClientOptions(config.snsEndpoint, env)), config.topicArn),
    logger,
    recent: overrides.recent ?? new RecentAnalyses(),
    ...((overrides.screenshots ?? config.screenshotBucket) && {
      // Path-style against an emulator (fauxqs), as S3 clients must address it.
      screenshots: overrides.screenshots ?? new S3ScreenshotStore(new S3Client({ ...awsClientOptions(config.s3Endpoint, env), forcePathStyle: config.s3Endpoint !== undefined }), config.screenshotBucket!),
    }),
    ...(overrides.now && { now: overrides.now }),
  };
}
