import { readAuthConfig } from '../lib/auth/config.ts';
import { createDirectory } from '../lib/nova-api/edge-dependencies.ts';
import { novaApi } from '../lib/nova-api/middleware.ts';
import { routePath } from '../lib/nova-api/routes.ts';
import { listServers } from '../lib/servers/list-servers.ts';

const auth = readAuthConfig();
const directory = createDirectory();

/** GET /v2.1/servers and GET /v2.1/servers/detail */
export const handler = novaApi(
  async ({ event, principal, baseUrl }) => ({
    status: 200,
    body: await listServers(
      { principal, baseUrl, query: event.queryStringParameters ?? {}, detail: /\/detail\/?$/.test(routePath(event)) },
      { directory },
    ),
  }),
  { auth },
);
