import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { readAuthConfig, type AuthConfig } from '../auth/config.ts';
import { oncePerEnvironment } from '../auth/secrets.ts';
import { Directory } from '../directory/directory.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { KeyedRateLimiter } from '../limits/token-bucket.ts';
import { createLogger, EDGE_SERVICE, type Logger } from '../logger.ts';
import { edgeMetrics, novaApi } from './middleware.ts';
import { readRemoteConsoleConfig, type RemoteConsoleConfig } from '../remote-consoles/console-config.ts';
import { ConsoleTokens } from '../remote-consoles/console-tokens.ts';
import { meterRequesterEvents } from '../transport/meter-requester-events.ts';
import { logRequesterEvents } from '../transport/log-requester-events.ts';
import { Requester } from '../transport/requester.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { readEdgeConfig, type EdgeConfig } from './edge-config.ts';

/**
 * Everything an edge function needs, built once per execution environment from its
 * configuration: warm invocations reuse the SDK connections, the host-record cache, the reply
 * queue and the rate limiter's buckets. Tests build their own with `createEdgeDependencies(env)`
 * (or by hand) and pass them to a function's `createHandler`, so no test touches process.env.
 */
export interface EdgeDependencies {
  config: EdgeConfig;
  auth: AuthConfig;
  directory: Directory;
  /** Asks hosts and waits for their replies (only the server-action function sends any). */
  requester: Requester;
  limiter: KeyedRateLimiter;
  logger: Logger;
  /** Remote consoles: base URLs and token lifetime; the token store when its table is configured. */
  consoles: RemoteConsoleConfig;
  consoleTokens: ConsoleTokens | undefined;
}

export function createEdgeDependencies(env: NodeJS.ProcessEnv = process.env, overrides: Partial<EdgeDependencies> = {}): EdgeDependencies {
  const config = overrides.config ?? readEdgeConfig(env);
  const consoles = overrides.consoles ?? readRemoteConsoleConfig(env);
  // One service name for the whole edge component: its directory and requester log as it does.
  const logger = overrides.logger ?? createLogger(EDGE_SERVICE);
  return {
    config,
    auth: overrides.auth ?? readAuthConfig(env),
    // Records change at heartbeats and lifecycle events: reusing them for a second saves a read per request.
    directory: overrides.directory ?? new Directory(createDocumentClient(env), config.tableName, { logger, hostCacheMs: 1_000, serverCacheMs: 1_000 }),
    requester: overrides.requester ?? meterRequesterEvents(
      logRequesterEvents(new Requester({ sqs: createSqsClient(env), replyQueuePrefix: config.replyQueuePrefix, hostQueuePrefix: config.hostQueuePrefix }), logger),
      edgeMetrics,
    ),
    limiter: overrides.limiter ?? new KeyedRateLimiter({ perKey: config.rateLimits.project, global: config.rateLimits.api }),
    logger,
    consoles,
    consoleTokens: 'consoleTokens' in overrides ? overrides.consoleTokens
      : consoles.tokensTable === undefined ? undefined : new ConsoleTokens(createDocumentClient(env), consoles.tokensTable),
  };
}

export type HttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const shared = oncePerEnvironment((env) => createEdgeDependencies(env));

/**
 * A function's Lambda entry point: its `createHandler` applied to this environment's
 * dependencies. They are built on the first invocation, not at import, so importing a function
 * module (tests, tooling) reads no environment; secrets named by `*_PARAMETER` settings are read
 * from SSM then (lib/auth/secrets.ts). A bad configuration answers every request with a Nova 500
 * and its request id, the reason in the log under that id.
 */
export function perEnvironment(createHandler: (deps: EdgeDependencies) => HttpHandler): HttpHandler {
  let handler: HttpHandler | undefined;
  return async (event, context) => {
    try {
      handler ??= createHandler(await shared());
    } catch (err) {
      // A bad configuration still answers in Nova's format with a request id (the error is in the
      // log under it), not with API Gateway's bare 502; the next request tries again.
      return novaApi(() => Promise.reject(err), { auth: false })(event, context);
    }
    return handler(event, context);
  };
}
