import { novaApi } from '../lib/nova-api/middleware.ts';
import { routePath } from '../lib/nova-api/routes.ts';
import { serverListFilter, serversLinks } from '../lib/nova-api/server-list-query.ts';
import { serverDetail, serverSummary } from '../lib/nova-api/server-view.ts';
import { perEnvironment, type EdgeDependencies, type HttpHandler } from '../lib/nova-api/wiring.ts';
import { listServers } from '../lib/servers/list-servers.ts';

/** GET /v2.1/servers and GET /v2.1/servers/detail */
export function createHandler(deps: EdgeDependencies): HttpHandler {
  return novaApi(
    async ({ event, principal, baseUrl, microversion }) => {
      const detail = /\/detail\/?$/.test(routePath(event));
      const params = new URLSearchParams(event.rawQueryString ?? '');
      const filter = serverListFilter(params, principal, microversion);
      const servers = await listServers({ principal, filter }, deps);
      const links = serversLinks(baseUrl, detail ? 'servers/detail' : 'servers', params, servers, filter.limit);
      return {
        status: 200,
        body: {
          servers: servers.map((s) => (detail ? serverDetail(s, baseUrl, principal, microversion) : serverSummary(s, baseUrl))),
          ...(links ? { servers_links: links } : {}),
        },
      };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger },
  );
}

export const handler = perEnvironment(createHandler);
