import type { Principal } from '../auth/principal.ts';
import { canSee } from '../auth/principal.ts';
import { ServerId, type ServerRecord } from '../contracts/records.ts';
import { VmconsoleError } from '../errors.ts';

export interface ServerLookup {
  getServer(id: string): Promise<ServerRecord | undefined>;
}

function notFound(serverId: string): VmconsoleError {
  // Nova's wording, echoing what the client sent (bounded: it is client text).
  const shown = serverId.length > 100 ? `${serverId.slice(0, 100)}...` : serverId;
  return new VmconsoleError('ServerNotFound', `Instance ${shown} could not be found.`);
}

/**
 * The server if this principal may see it. A malformed id, an unknown server and another
 * project's server all give the same 404, so ids of other projects cannot be probed.
 * Anything that is not a plain UUID (`..%2F`, encoded slashes, names) never reaches the directory.
 */
export async function findVisibleServer(directory: ServerLookup, principal: Principal, serverId: string): Promise<ServerRecord> {
  if (!ServerId.safeParse(serverId).success) throw notFound(serverId);
  const server = await directory.getServer(serverId.toLowerCase());
  if (!server || !canSee(principal, server)) throw notFound(serverId);
  return server;
}
