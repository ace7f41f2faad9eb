import type { Logger } from '../logger.ts';
import type { Requester } from './requester.ts';

/** The edge's account of its requester: it logs nothing itself, so the application listens. */
export function logRequesterEvents(requester: Requester, logger: Logger): Requester {
  return requester
    .on('reply_discarded', ({ correlationId }) => logger.info('discarding a late or unknown reply', { correlationId }))
    .on('malformed_reply', ({ correlationId, reason }) => logger.error('malformed reply', { correlationId, reason }))
    .on('receive_error', ({ error }) => logger.warn('reply poll failed; retrying', { error: String(error) }))
    .on('reply_queue_heartbeat_error', ({ error }) => logger.warn('reply queue heartbeat failed', { error: String(error) }))
    .on('reply_queue_replaced', ({ queueUrl, why }) => logger.warn('reply queue is gone; the next request creates a new one', { queueUrl, why }))
    // The link between the edge's request id and the SQS message the agent logs (correlationId).
    .on('request_settled', (e) => logger.info('host request settled', { ...e }));
}
