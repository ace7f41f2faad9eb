import type { Principal } from '../auth/principal.ts';
import type { ServerRecord } from '../contracts/records.ts';
import { VmconsoleError } from '../errors.ts';
import { serverDetail, serverSummary } from './server-view.ts';

export interface ServerFinder {
  findServers(filter: { projectId?: string; name?: string }): Promise<ServerRecord[]>;
}

export interface ListServersInput {
  principal: Principal;
  baseUrl: string;
  query: Readonly<Record<string, string | undefined>>;
  /** `/servers/detail`: full documents instead of id, name, links. */
  detail: boolean;
}

const TRUE = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
const FALSE = new Set(['0', 'f', 'false', 'off', 'n', 'no']);

/** Nova's is_all_tenants: present without a value means yes; otherwise a strict boolean. */
function allTenants(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (v === '' || TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new VmconsoleError('BadRequest', `Invalid value '${value.slice(0, 40)}' for all_tenants. Use true or false.`);
}

/**
 * `GET /v2.1/servers[?name=N][&all_tenants=1]`. Like Nova, everyone lists their own project;
 * only admins may ask for all projects (others get 403, as Nova's policy answers). `name` is
 * matched by the directory the way Nova does (a regular expression, searched), and both CLIs then
 * keep the exact matches.
 */
export async function listServers(input: ListServersInput, deps: { directory: ServerFinder }) {
  const everyProject = allTenants(input.query.all_tenants);
  if (everyProject && !input.principal.isAdmin) {
    throw new VmconsoleError('Forbidden', "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.");
  }
  const name = input.query.name;
  const found = await deps.directory.findServers({
    ...(everyProject ? {} : { projectId: input.principal.projectId }),
    ...(name !== undefined ? { name } : {}),
  });
  const servers = found.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  return {
    servers: servers.map((s) => (input.detail ? serverDetail(s, input.baseUrl, input.principal) : serverSummary(s, input.baseUrl))),
  };
}
