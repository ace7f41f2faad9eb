import type { AuthConfig } from '../auth/config.ts';
import { oncePerEnvironment } from '../auth/secrets.ts';
import type { EventDeps } from '../diagnostics-service/handle-crash-event.ts';
import { createDiagnoseDependencies } from '../diagnostics-service/wiring.ts';
import type { KeyedRateLimiter } from '../limits/token-bucket.ts';
import { createLogger, EDGE_SERVICE, type Logger } from '../logger.ts';
import { createEdgeDependencies, type EdgeDependencies } from '../nova-api/wiring.ts';
import { failingApi, type ApiHandler } from './middleware.ts';
import { HistoryStore } from '../history/history-store.ts';
import type { HistoryDeps } from '../history/read-console.ts';
import { BUCKET_NAME, createHistoryS3Client } from '../history/s3-client.ts';

/** What a /vmconsole/v1 function needs: the edge's auth, limiter and host access, the diagnoses and console history. */
export interface ApiDependencies {
  auth: AuthConfig;
  limiter: KeyedRateLimiter;
  logger: Logger;
  replyTimeoutMs: number;
  diagnoses: EventDeps;
  /** What asks a server's compute host (screenshots): the directory, the requester, the pinned protocol. */
  hosts: Pick<EdgeDependencies, 'directory' | 'requester'> & { protocolMax: number };
  history: HistoryDeps;
}

/**
 * Each part is built when a function first uses it, so a function needs only its own part's
 * configuration (the console functions no diagnoses table, the diagnoses functions no history bucket).
 */
export function createApiDependencies(env: NodeJS.ProcessEnv = process.env, overrides: { edge?: Partial<EdgeDependencies>; diagnoses?: Partial<EventDeps>; history?: Partial<HistoryDeps> } = {}): ApiDependencies {
  const edge = createEdgeDependencies(env, overrides.edge);
  let diagnoses: EventDeps | undefined;
  let history: HistoryDeps | undefined;
  return {
    auth: edge.auth,
    limiter: edge.limiter,
    logger: edge.logger,
    replyTimeoutMs: edge.config.replyTimeoutMs,
    hosts: { directory: edge.directory, requester: edge.requester, protocolMax: edge.config.protocolMax },
    // Built when a function first uses them: the screenshot function has no diagnoses table to name.
    get diagnoses() {
      return (diagnoses ??= createDiagnoseDependencies(env, { directory: edge.directory, requester: edge.requester, logger: edge.logger, ...overrides.diagnoses }));
    },
    get history() {
      history ??= {
        directory: edge.directory,
        requester: edge.requester,
        store: historyStore(env),
        logger: edge.logger,
        replyTimeoutMs: edge.config.replyTimeoutMs,
        protocolMax: edge.config.protocolMax,
        ...overrides.history,
      };
      return history;
    },
  };
}

/** VMCONSOLE_HISTORY_BUCKET: where agents ship console history; unset, reads come from the hosts alone. */
function historyStore(env: NodeJS.ProcessEnv): HistoryStore | undefined {
  const bucket = env.VMCONSOLE_HISTORY_BUCKET?.trim();
  if (!bucket) return undefined;
  if (!BUCKET_NAME.test(bucket)) throw new Error(`invalid console history configuration: VMCONSOLE_HISTORY_BUCKET must be an S3 bucket name (got "${bucket.slice(0, 80)}")`);
  return new HistoryStore(createHistoryS3Client(env), bucket);
}

const shared = oncePerEnvironment((env) => createApiDependencies(env));

/**
 * A /vmconsole/v1 function's Lambda entry point (as lib/nova-api/wiring.ts's perEnvironment):
 * dependencies built on the first invocation; a bad configuration answers a 500 in this API's
 * error format, its reason in the log under the request id.
 */
export function perApiEnvironment(createHandler: (deps: ApiDependencies) => ApiHandler): ApiHandler {
  let handler: ApiHandler | undefined;
  return async (event, context) => {
    try {
      handler ??= createHandler(await shared());
    } catch (err) {
      return failingApi(err, createLogger(EDGE_SERVICE))(event, context);
    }
    return handler(event, context);
  };
}
