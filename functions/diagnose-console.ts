import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { MalformedEvent } from '../lib/contracts/crash-events.ts';
import { handleCrashEvent, type EventDeps } from '../lib/diagnostics-service/handle-crash-event.ts';
import { createDiagnoseDependencies } from '../lib/diagnostics-service/wiring.ts';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** Left of the invocation when the host must have answered: storing and publishing come after. */
const MARGIN_MS = 5_000;

/**
 * SQS-triggered by the events queue (README, "Events queue"): each record is one crash event or
 * CloudWatch alarm. A record that throws (host down, SNS unavailable, a malformed message) is
 * reported in batchItemFailures: SQS gives it back, and after maxReceiveCount it is in the DLQ.
 */
export function createHandler(deps: EventDeps): SqsHandler {
  return async (event, context) => {
    // Lambda's request id (function_request_id) on every line of this invocation, as injectLambdaContext does for HTTP.
    if (deps.logger instanceof PowertoolsLogger) deps.logger.addContext(context);
    const processor = new BatchProcessor(EventType.SQS);
    const deadline = Date.now() + Math.max(1_000, context.getRemainingTimeInMillis() - MARGIN_MS);
    const diagnose = async (record: SQSRecord) => {
      try {
        const result = await handleCrashEvent(record.body, { receivedAt: Number(record.attributes?.SentTimestamp) || Date.now(), deadline, requestId: `evt-${record.messageId}` }, deps);
        if (result.kind === 'ignored') deps.logger.info('event ignored', { messageId: record.messageId, why: result.why });
      } catch (err) {
        const level = err instanceof MalformedEvent ? 'warn' : 'error';
        deps.logger[level]('event failed; it will be retried, then dead-lettered', { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount, err });
        throw err;
      }
    };
    return processPartialResponse(event, diagnose, processor, { context, throwOnFullBatchFailure: false });
  };
}

let built: SqsHandler | undefined;

/** Dependencies are built on the first invocation, not at import: importing this module reads no environment. */
export const handler: SqsHandler = (event, context) => (built ??= createHandler(createDiagnoseDependencies()))(event, context);
