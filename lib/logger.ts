import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';

/**
 * Structured JSON logs for the edge (CloudWatch) and the agent (journald/stdout) alike.
 * Powertools gives us Lambda context enrichment and level control via POWERTOOLS_LOG_LEVEL
 * without a hand-rolled formatter.
 */
export type Logger = Pick<PowertoolsLogger, 'debug' | 'info' | 'warn' | 'error'>;

export function createLogger(serviceName: string): PowertoolsLogger {
  return new PowertoolsLogger({ serviceName, logLevel: (process.env.POWERTOOLS_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
}
