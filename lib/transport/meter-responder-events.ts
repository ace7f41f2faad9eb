import { METRIC, recordCount, recordRequest, type Metrics } from '../metrics.ts';
import type { Responder } from './responder.ts';

/**
 * The agent's responder events as metrics (lib/metrics.ts): each answered request (outcome and
 * duration) and each message that goes to the host's DLQ, with the host as a property.
 */
export function meterResponderEvents(responder: Responder, metrics: Metrics, host: string): Responder {
  return responder
    .on('replied', ({ outcome, ms, requestId, correlationId, server, kind }) => recordRequest(metrics, outcome, ms, { host, requestId, correlationId, server, kind }))
    .on('dead_lettered', ({ messageId, requestId, reason }) => recordCount(metrics, METRIC.deadLettered, { host, messageId, requestId, reason }));
}
