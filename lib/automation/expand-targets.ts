import type { Principal } from '../auth/principal.ts';
import { MAX_SERVERS_PER_REQUEST, type AutomationRequest } from '../contracts/automation.ts';
import type { ServerRecord } from '../contracts/records.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import { findVisibleServer } from '../servers/find-visible-server.ts';
import type { ServerFinder } from '../servers/list-servers.ts';

/** One server of the batch, numbered: found (to ask its host) or already failed. */
export type Target =
  | { seq: number; serverId: string; server: ServerRecord }
  | { seq: number; serverId: string; error: VmconsoleError };

/** Directory reads in flight while a 1,000-server list is looked up. */
const LOOKUPS_IN_FLIGHT = 32;

const byNameThenId = (a: ServerRecord, b: ServerRecord) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);

/**
 * The servers a request names, numbered 1..total in a stable order: the client's own order for a
 * server list, name then id for a project or a host. Visibility is the HTTP API's: a server of
 * another project is ServerNotFound, exactly like an unknown one (never reveal existence); a
 * project the caller may not see expands like an empty one; hosts are operators' business. A
 * request that expands to nothing throws, and is answered once with `total: 0`.
 */
export async function expandTargets(request: AutomationRequest, principal: Principal, directory: ServerFinder): Promise<Target[]> {
  if (request.servers !== undefined) {
    const ids = request.servers;
    const targets: Target[] = new Array(ids.length);
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(LOOKUPS_IN_FLIGHT, ids.length) }, async () => {
      while (next < ids.length) {
        const i = next++;
        const serverId = ids[i]!;
        try {
          targets[i] = { seq: i + 1, serverId, server: await findVisibleServer(directory, principal, serverId) };
        } catch (err) {
          // Only the server's own refusal is its answer; a directory outage is the whole request's.
          if (!isVmconsoleError(err) || err.code !== 'ServerNotFound') throw err;
          targets[i] = { seq: i + 1, serverId, error: err };
        }
      }
    }));
    return targets;
  }
  let servers: ServerRecord[];
  if (request.project !== undefined) {
    const visible = principal.isAdmin || principal.projectId === request.project;
    servers = visible ? await directory.findServers({ projectId: request.project }) : [];
    if (servers.length === 0) throw new VmconsoleError('ServerNotFound', `No servers found in project ${request.project}.`);
  } else {
    if (!principal.isAdmin) throw new VmconsoleError('Forbidden', 'Only operators may ask for the servers of a host.');
    servers = await directory.findServers({ host: request.host! });
    if (servers.length === 0) throw new VmconsoleError('ServerNotFound', `No servers found on host ${request.host}.`);
  }
  if (servers.length > MAX_SERVERS_PER_REQUEST) {
    throw new VmconsoleError('BadRequest', `The request covers ${servers.length} servers; at most ${MAX_SERVERS_PER_REQUEST} per request: name them in several requests.`);
  }
  return servers.sort(byNameThenId).map((server, i) => ({ seq: i + 1, serverId: server.id, server }));
}
