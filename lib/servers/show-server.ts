import type { Principal } from '../auth/principal.ts';
import { findVisibleServer, type ServerLookup } from './find-visible-server.ts';
import { serverDetail } from './server-view.ts';

/** `GET /v2.1/servers/{id}`: tenant-scoped, 404 for anything the caller may not see. */
export async function showServer(
  input: { principal: Principal; serverId: string; baseUrl: string },
  deps: { directory: ServerLookup },
) {
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  return { server: serverDetail(server, input.baseUrl, input.principal) };
}
