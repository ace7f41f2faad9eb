import type { Logger } from './logger.ts';
import { recordRequest, type Metrics } from './metrics.ts';

/** What the edge says of each HTTP request it answered, once. */
export interface RequestLine {
  requestId: string;
  server: string | undefined;
  /** The route, and the server action's name where there is one. */
  kind: string;
  status: number;
  /** OK, or the error code (lib/errors.ts) the caller was answered with. */
  outcome: string;
  ms: number;
}

/**
 * The request's one log line and its EMF line (lib/metrics.ts). The Lambda request id and API
 * Gateway's (the access log's `requestId`) join the log line through the logger's Lambda context
 * (function_request_id, correlation_id: injectLambdaContext in the API stacks).
 */
export function writeRequestLine(line: RequestLine, logger: Logger, metrics: Metrics): void {
  logger.info('request', { ...line });
  recordRequest(metrics, line.outcome, line.ms, { requestId: line.requestId, server: line.server, kind: line.kind, status: line.status });
}
