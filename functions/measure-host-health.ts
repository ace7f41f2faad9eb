import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { createDocumentClient } from '../lib/directory/dynamodb-client.ts';
import { Directory } from '../lib/directory/directory.ts';
import { createLogger, HEALTH_SERVICE, type Logger } from '../lib/logger.ts';
import { createMetrics, METRIC, type Metrics } from '../lib/metrics.ts';
import { readEdgeConfig } from '../lib/nova-api/edge-config.ts';
import { countHosts, type HostCounts } from '../lib/services/count-hosts.ts';
import type { HostList } from '../lib/services/list-services.ts';

export interface HostHealthDeps {
  directory: HostList;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

/** At most this many down hosts are named on the EMF line and the log line. */
const NAMED_HOSTS = 50;

/**
 * Scheduled every minute: the fleet's hosts up, down and in maintenance as one EMF line (the
 * HostsDown alarm follows it), the down hosts named in the log.
 */
export function createHandler(deps: HostHealthDeps): () => Promise<HostCounts> {
  return async () => {
    const counts = await countHosts(deps);
    deps.metrics.addMetric(METRIC.hostsUp, MetricUnit.Count, counts.up);
    deps.metrics.addMetric(METRIC.hostsDown, MetricUnit.Count, counts.down);
    deps.metrics.addMetric(METRIC.hostsInMaintenance, MetricUnit.Count, counts.inMaintenance);
    if (counts.down > 0) deps.metrics.addMetadata('downHosts', counts.downHosts.slice(0, NAMED_HOSTS).join(','));
    deps.metrics.publishStoredMetrics();
    if (counts.down > 0) deps.logger.warn('hosts down', { down: counts.down, hosts: counts.downHosts.slice(0, NAMED_HOSTS) });
    return counts;
  };
}

let built: (() => Promise<HostCounts>) | undefined;

/** Dependencies are built on the first invocation, not at import: importing this module reads no environment. */
export const handler = () => (built ??= createHandler({
  directory: new Directory(createDocumentClient(), readEdgeConfig().tableName),
  metrics: createMetrics(HEALTH_SERVICE),
  logger: createLogger(HEALTH_SERVICE),
}))();
