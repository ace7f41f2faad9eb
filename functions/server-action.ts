import { novaApi } from '../lib/nova-api/middleware.ts';
import { runServerAction } from '../lib/nova-api/server-actions.ts';
import { perEnvironment, type EdgeDependencies, type HttpHandler } from '../lib/nova-api/wiring.ts';

/** POST /v2.1/servers/{server_id}/action */
export function createHandler(deps: EdgeDependencies): HttpHandler {
  return novaApi((request) => runServerAction(request, { ...deps, protocolMax: deps.config.protocolMax }), {
    auth: deps.auth, parseBody: true, limiter: deps.limiter, logger: deps.logger, hostWaitMs: deps.config.replyTimeoutMs,
  });
}

export const handler = perEnvironment(createHandler);
