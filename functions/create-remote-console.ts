import { novaApi } from '../lib/nova-api/middleware.ts';
import { createRemoteConsole } from '../lib/nova-api/remote-consoles.ts';
import { perEnvironment, type EdgeDependencies, type HttpHandler } from '../lib/nova-api/wiring.ts';

/** POST /v2.1/servers/{server_id}/remote-consoles (microversion 2.6 and later) */
export function createHandler(deps: EdgeDependencies): HttpHandler {
  return novaApi((request) => createRemoteConsole(request, { ...deps, protocolMax: deps.config.protocolMax }), {
    auth: deps.auth, parseBody: true, limiter: deps.limiter, logger: deps.logger, hostWaitMs: deps.config.replyTimeoutMs,
  });
}

export const handler = perEnvironment(createHandler);
