import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * CloudWatch metrics as EMF lines on stdout (Powertools Metrics): Lambda's log pipeline turns them
 * into metrics; on a compute host the agent's lines become metrics once its journal is shipped to
 * CloudWatch Logs (README, "Metrics"). One namespace; each component is its `service` dimension
 * (vmconsole-edge, vmconsole-router, vmconsole-diagnose, vmconsole-health, vmconsole-agent).
 *
 * | Metric          | Unit  | Dimensions        | From                                                       |
 * |-----------------|-------|-------------------|------------------------------------------------------------|
 * | Requests        | Count | service, outcome  | one per request at the edge (HTTP) and at the agent       |
 * | Latency         | ms    | service, outcome  | the same request's duration                                |
 * | HostTimeouts    | Count | service           | a host that did not answer before the deadline (requester) |
 * | DeadLettered    | Count | service           | a host-queue message failing its last receive: SQS moves it to the host's DLQ |
 * | HostsUp/Down/InMaintenance | Count | service | the directory's host records, every minute             |
 *
 * `outcome` is `OK` or the error code of lib/errors.ts (HostTimeout, HostDown, ServerNotFound, ...).
 */
export const METRICS_NAMESPACE = 'vmconsole';

export const METRIC = {
  requests: 'Requests',
  latency: 'Latency',
  hostTimeouts: 'HostTimeouts',
  deadLettered: 'DeadLettered',
  hostsUp: 'HostsUp',
  hostsDown: 'HostsDown',
  hostsInMaintenance: 'HostsInMaintenance',
} as const;

export type { Metrics };

export function createMetrics(service: string): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: service });
}

/**
 * One request's outcome and duration as one EMF line, with the ids that tie it to the logs
 * (request id, server, kind) as properties: not dimensions, so they cost nothing per value.
 */
export function recordRequest(metrics: Metrics, outcome: string, ms: number, properties: Record<string, string | number | undefined>): void {
  metrics.addDimension('outcome', outcome);
  metrics.addMetric(METRIC.requests, MetricUnit.Count, 1);
  metrics.addMetric(METRIC.latency, MetricUnit.Milliseconds, ms);
  for (const [key, value] of Object.entries(properties)) if (value !== undefined) metrics.addMetadata(key, String(value));
  metrics.publishStoredMetrics();
}

/** A count of one event as its own EMF line (timeouts, dead-lettered messages: rare, published at once). */
export function recordCount(metrics: Metrics, name: string, properties: Record<string, string | undefined> = {}, count = 1): void {
  metrics.addMetric(name, MetricUnit.Count, count);
  for (const [key, value] of Object.entries(properties)) if (value !== undefined) metrics.addMetadata(key, value);
  metrics.publishStoredMetrics();
}
