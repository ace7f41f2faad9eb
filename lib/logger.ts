import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';

/**
 * Structured JSON logs for the edge (CloudWatch) and the agent (journald/stdout) alike.
 * Powertools gives us Lambda context enrichment and level control via POWERTOOLS_LOG_LEVEL
 * without a hand-rolled formatter.
 */
export type Logger = Pick<PowertoolsLogger, 'debug' | 'info' | 'warn' | 'error'>;

/** The `service` of each component's logs and metrics (one per component, README "Metrics"). */
export const EDGE_SERVICE = 'vmconsole-edge';
export const ROUTER_SERVICE = 'vmconsole-router';
export const DIAGNOSE_SERVICE = 'vmconsole-diagnose';
export const HEALTH_SERVICE = 'vmconsole-health';
export const AGENT_SERVICE = 'vmconsole-agent';

/**
 * A dotted path into the event (`requestContext.requestId`), for injectLambdaContext's
 * correlationIdPath without the JMESPath package: the paths vmconsole uses are plain ones.
 */
function readPath(path: string, value: unknown): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), value);
}

export function createLogger(serviceName: string): PowertoolsLogger {
  return new PowertoolsLogger({ serviceName, logLevel: (process.env.POWERTOOLS_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO', correlationIdSearchFn: readPath });
}
