import { readAuthConfig } from '../../lib/auth/config.ts';
import { createEdgeDependencies, type EdgeDependencies } from '../../lib/nova-api/wiring.ts';
import { recordingLogger } from './recording-logger.ts';

/**
 * An edge function's dependencies for a test: built from the test's own environment object
 * (fauxqs/dynalite endpoints, table, timeouts), never from process.env, with a recording logger
 * and rate limits off unless the test sets them. Pass them to the function's `createHandler`.
 */
export function edgeDependencies(env: Record<string, string>, overrides: Partial<EdgeDependencies> = {}): EdgeDependencies & { logger: ReturnType<typeof recordingLogger> } {
  const logger = recordingLogger();
  return createEdgeDependencies(
    { VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_RATE_PROJECT_PER_S: '0', VMCONSOLE_RATE_API_PER_S: '0', ...env },
    { auth: readAuthConfig({ VMCONSOLE_AUTH_MODE: 'noauth', ...env }), logger, ...overrides },
  ) as EdgeDependencies & { logger: ReturnType<typeof recordingLogger> };
}
