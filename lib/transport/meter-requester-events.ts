import { METRIC, recordCount, type Metrics } from '../metrics.ts';
import type { Requester } from './requester.ts';

/** The requester's events as metrics (lib/metrics.ts): a host that let a request's deadline pass. */
export function meterRequesterEvents(requester: Requester, metrics: Metrics): Requester {
  return requester.on('request_settled', ({ outcome, host, kind, requestId, correlationId }) => {
    if (outcome === 'HostTimeout') recordCount(metrics, METRIC.hostTimeouts, { host, kind, requestId, correlationId });
  });
}
