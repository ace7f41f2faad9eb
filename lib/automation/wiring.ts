import { readAuthConfig } from '../auth/config.ts';
import { Directory } from '../directory/directory.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { KeyedRateLimiter } from '../limits/token-bucket.ts';
import { createLogger, ROUTER_SERVICE } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { meterRequesterEvents } from '../transport/meter-requester-events.ts';
import { readEdgeConfig } from '../nova-api/edge-config.ts';
import { AutomationReplies } from '../transport/automation-replies.ts';
import { logRequesterEvents } from '../transport/log-requester-events.ts';
import { ReplyDestinations } from '../transport/queue-naming.ts';
import { Requester } from '../transport/requester.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import type { RouterDeps } from './route-console-request.ts';
import { readRouterConfig } from './router-config.ts';

/**
 * The queue router's dependencies, built once per execution environment: the edge's settings
 * (table, queue prefixes, auth mode), its own (client allow-list, token rule, rate limits in
 * servers), SDK clients, a requester with its reply queue, and the allow-list every client reply
 * is checked against: the same ReplyDestinations rule the agents apply.
 */
export function createRouterDependencies(env: NodeJS.ProcessEnv = process.env, overrides: Partial<RouterDeps> = {}): RouterDeps {
  const edge = readEdgeConfig(env);
  const config = readRouterConfig(env);
  const sqs = createSqsClient(env);
  // One service name per component: its directory and requester log as it does.
  const logger = overrides.logger ?? createLogger(ROUTER_SERVICE);
  return {
    directory: overrides.directory ?? new Directory(createDocumentClient(env), edge.tableName, { logger, hostCacheMs: 1_000, serverCacheMs: 1_000 }),
    requester: overrides.requester ?? meterRequesterEvents(
      logRequesterEvents(new Requester({ sqs, replyQueuePrefix: edge.replyQueuePrefix, hostQueuePrefix: edge.hostQueuePrefix }), logger),
      createMetrics(ROUTER_SERVICE),
    ),
    replies: overrides.replies ?? new AutomationReplies(sqs, new ReplyDestinations(config.clientReplyUrlPrefixes, edge.hostQueuePrefix)),
    auth: overrides.auth ?? readAuthConfig(env),
    requireToken: overrides.requireToken ?? config.requireToken,
    limiter: overrides.limiter ?? new KeyedRateLimiter({ perKey: config.rateLimits.project, global: config.rateLimits.api }),
    logger,
    ...(overrides.now && { now: overrides.now }),
    ...(overrides.plan && { plan: overrides.plan }),
    protocolMax: overrides.protocolMax ?? edge.protocolMax,
  };
}
