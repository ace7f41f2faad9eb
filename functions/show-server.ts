import { novaApi } from '../lib/nova-api/middleware.ts';
import { serverDetail } from '../lib/nova-api/server-view.ts';
import { perEnvironment, type EdgeDependencies, type HttpHandler } from '../lib/nova-api/wiring.ts';
import { showServer } from '../lib/servers/show-server.ts';

/** GET /v2.1/servers/{server_id} */
export function createHandler(deps: EdgeDependencies): HttpHandler {
  return novaApi(
    async ({ event, principal, baseUrl, microversion }) => {
      const server = await showServer({ principal, serverId: event.pathParameters?.server_id ?? '' }, deps);
      return { status: 200, body: { server: serverDetail(server, baseUrl, principal, microversion) } };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger },
  );
}

export const handler = perEnvironment(createHandler);
