import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { batchDeadline, routeConsoleRequest, UnanswerableRequest, type RouterDeps } from '../lib/automation/route-console-request.ts';
import { oncePerEnvironment } from '../lib/auth/secrets.ts';
import { createRouterDependencies } from '../lib/automation/wiring.ts';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/**
 * SQS-triggered: each record is one automation request (README, "Queue-driven automation").
 * A record that throws is reported in batchItemFailures (ReportBatchItemFailures): SQS receives it
 * again and, after maxReceiveCount, moves it to the DLQ; the other records of the batch are done.
 */
export function createHandler(deps: RouterDeps): SqsHandler {
  return async (event, context) => {
    // One processor per invocation: it holds the invocation's records and failures.
    // Lambda's request id (function_request_id) on every line of this invocation, as injectLambdaContext does for HTTP.
    if (deps.logger instanceof PowertoolsLogger) deps.logger.addContext(context);
    const processor = new BatchProcessor(EventType.SQS);
    const deadline = batchDeadline(Date.now(), context.getRemainingTimeInMillis());
    const route = async (record: SQSRecord) => {
      try {
        await routeConsoleRequest(record.body, { deadline }, deps);
      } catch (err) {
        if (!(err instanceof UnanswerableRequest)) deps.logger.error('automation request failed; it will be retried, then dead-lettered', { messageId: record.messageId, receiveCount: record.attributes?.ApproximateReceiveCount, err });
        throw err;
      }
    };
    return processPartialResponse(event, route, processor, { context, throwOnFullBatchFailure: false });
  };
}

const built = oncePerEnvironment((env) => createHandler(createRouterDependencies(env)));

/**
 * Dependencies are built on the first invocation, not at import: importing this module reads no
 * environment. A configuration that cannot be built (a secret SSM would not give) fails the
 * invocation: SQS gives the batch back, and the next invocation tries again.
 */
export const handler: SqsHandler = async (event, context) => (await built())(event, context);
