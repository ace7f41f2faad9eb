import type { Principal } from '../auth/principal.ts';
import { canSee } from '../auth/principal.ts';
import type { ServerRecord, ServerState } from '../contracts/records.ts';
import { VmconsoleError } from '../errors.ts';
import type { ServerLookup } from './find-visible-server.ts';

export interface ServerFinder extends ServerLookup {
  findServers(filter: { projectId?: string; name?: string; host?: string }): Promise<ServerRecord[]>;
}

export interface ServerListFilter {
  /** Every project's servers (admins only); otherwise the caller's project. */
  allProjects: boolean;
  /** Matched like Nova: a regular expression searched in the name. */
  name?: string;
  /** One compute host's servers (admins only: host names are operators' business). */
  host?: string;
  /** Any of these states; an empty list matches nothing. */
  states?: readonly ServerState[];
  /** At most this many servers. */
  limit: number;
  /** Start after this server id, in the listing's order. */
  marker?: string;
}

const byNameThenId = (a: ServerRecord, b: ServerRecord) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);

/**
 * The servers a principal asked for, in a stable order (name, then id) so a marker names a
 * position. Like Nova, everyone lists their own project; only admins may ask for all projects
 * (others get 403, as Nova's policy answers) or for a host. A marker must be a server the caller
 * may see (Nova: "marker [x] not found"); the page starts after its position even when the marker
 * itself does not match the filters, as in Nova.
 */
export async function listServers(input: { principal: Principal; filter: ServerListFilter }, deps: { directory: ServerFinder }): Promise<ServerRecord[]> {
  const { principal, filter } = input;
  if (filter.allProjects && !principal.isAdmin) {
    throw new VmconsoleError('Forbidden', "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.");
  }
  if (filter.host !== undefined && !principal.isAdmin) {
    throw new VmconsoleError('Forbidden', 'Only administrators may list the servers of a host.');
  }
  let after: ServerRecord | undefined;
  if (filter.marker !== undefined) {
    after = /^[0-9a-fA-F-]{36}$/.test(filter.marker) ? await deps.directory.getServer(filter.marker.toLowerCase()) : undefined;
    if (!after || !canSee(principal, after)) {
      throw new VmconsoleError('BadRequest', `marker [${filter.marker.slice(0, 100)}] not found`);
    }
  }
  if (filter.limit === 0 || filter.states?.length === 0) return [];
  const found = await deps.directory.findServers({
    ...(filter.allProjects ? {} : { projectId: principal.projectId }),
    ...(filter.name !== undefined ? { name: filter.name } : {}),
    ...(filter.host !== undefined ? { host: filter.host } : {}),
  });
  const states = filter.states ? new Set(filter.states) : undefined;
  return found
    .filter((s) => !states || states.has(s.state))
    .sort(byNameThenId)
    .filter((s) => !after || byNameThenId(s, after) > 0)
    .slice(0, filter.limit);
}
