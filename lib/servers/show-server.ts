import type { Principal } from '../auth/principal.ts';
import type { ServerRecord } from '../contracts/records.ts';
import { findVisibleServer, type ServerLookup } from './find-visible-server.ts';

/** `GET /v2.1/servers/{id}`: tenant-scoped, 404 for anything the caller may not see. */
export async function showServer(input: { principal: Principal; serverId: string }, deps: { directory: ServerLookup }): Promise<ServerRecord> {
  return findVisibleServer(deps.directory, input.principal, input.serverId);
}
