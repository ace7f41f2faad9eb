import { readAuthConfig } from '../lib/auth/config.ts';
import { createDirectory } from '../lib/nova-api/edge-dependencies.ts';
import { novaApi } from '../lib/nova-api/middleware.ts';
import { showServer } from '../lib/servers/show-server.ts';

const auth = readAuthConfig();
const directory = createDirectory();

/** GET /v2.1/servers/{server_id} */
export const handler = novaApi(
  async ({ event, principal, baseUrl }) => ({
    status: 200,
    body: await showServer({ principal, serverId: event.pathParameters?.server_id ?? '', baseUrl }, { directory }),
  }),
  { auth },
);
