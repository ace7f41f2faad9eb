import type { Principal } from '../auth/principal.ts';
import { VmconsoleError } from '../errors.ts';
import type { ServerListFilter } from '../servers/list-servers.ts';
import { compareMicroversions, MIN_MICROVERSION, type Microversion } from './microversion.ts';
import { statesWithStatus } from './server-view.ts';

/** Nova's CONF.api.max_limit: no page is longer, whatever `limit` says. */
export const MAX_LIMIT = 1000;

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
 * Filters Nova applies for every caller at 2.1 (`_get_server_search_options`) that vmconsole does
 * not: refused with 400 rather than ignored, so nobody mistakes a full list for a filtered one.
 */
const UNAPPLIED_FOR_EVERYONE = ['reservation_id', 'image', 'flavor', 'ip', 'changes-since', 'sort_key', 'sort_dir'];

/**
 * The rest of Nova's 2.1 query schema: admin-only filters. Nova silently drops them for other
 * callers (remove_invalid_options), and so does vmconsole; for admins Nova applies them, so
 * vmconsole refuses the ones it does not apply. Names outside Nova's schema are ignored for
 * everyone, as Nova does (additionalProperties: true, and its database filter skips them).
 */
const ADMIN_ONLY_UNAPPLIED = [
  'user_id', 'project_id', 'tenant_id', 'launch_index', 'image_ref', 'kernel_id', 'ramdisk_id', 'hostname', 'key_name',
  'power_state', 'vm_state', 'task_state', 'node', 'launched_at', 'terminated_at', 'availability_zone', 'display_name',
  'description', 'display_description', 'locked_by', 'uuid', 'root_device_name', 'config_drive', 'access_ip_v4', 'access_ip_v6',
  'auto_disk_config', 'progress', 'soft_deleted', 'deleted', 'ip6', 'created_at', 'block_device_mapping', 'services',
  'metadata', 'system_metadata', 'info_cache', 'security_groups', 'pci_devices',
];

function notApplied(name: string): VmconsoleError {
  return new VmconsoleError('BadRequest', `Filtering servers by ${name} is not supported by this API.`);
}

/** Nova's non_negative_integer (`^[0-9]*$`, Python's `$` allowing a final newline), then int(). */
function limitOf(value: string | undefined): number {
  if (value === undefined) return MAX_LIMIT;
  if (!/^[0-9]*\n?$/.test(value)) {
    throw new VmconsoleError('BadRequest', `Invalid input for query parameters limit. Value: ${value.slice(0, 40)}. '${value.slice(0, 40)}' does not match '^[0-9]*$'`);
  }
  if (value.trim() === '') throw new VmconsoleError('BadRequest', 'limit param must be an integer');
  return Math.min(MAX_LIMIT, Number(value));
}

/**
 * `GET /servers` query parameters as Nova 2.1 reads them (a repeated parameter: the last value,
 * except `status`, where every value counts), for the list use case.
 */
export function serverListFilter(params: URLSearchParams, principal: Principal, microversion: Microversion = MIN_MICROVERSION): ServerListFilter {
  const last = (name: string) => params.getAll(name).at(-1);
  for (const name of UNAPPLIED_FOR_EVERYONE) if (params.has(name)) throw notApplied(name);
  // From 2.5 Nova applies `ip6` for every caller, as it does `ip`: refused the same way.
  if (compareMicroversions(microversion, { major: 2, minor: 5 }) >= 0 && params.has('ip6')) throw notApplied('ip6');
  if (principal.isAdmin) {
    for (const name of ADMIN_ONLY_UNAPPLIED) {
      // `deleted=false` is what Nova does anyway (and what some clients send by default).
      if (name === 'deleted' && FALSE.has((last(name) ?? '').trim().toLowerCase())) continue;
      if (params.has(name)) throw notApplied(name);
    }
  }
  const name = last('name');
  const host = principal.isAdmin ? last('host') : undefined;
  const marker = last('marker');
  return {
    allProjects: allTenants(last('all_tenants')),
    limit: limitOf(last('limit')),
    ...(name !== undefined ? { name } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(params.has('status') ? { states: statesWithStatus(params.getAll('status')) } : {}),
    ...(marker !== undefined ? { marker } : {}),
  };
}

/**
 * Nova's `servers_links`: a next link when the page is as long as it may be, repeating the query
 * with `marker` set to the last server's id.
 */
export function serversLinks(baseUrl: string, collection: string, params: URLSearchParams, page: readonly { id: string }[], limit: number) {
  if (limit === 0 || page.length !== limit) return undefined;
  const next = new URLSearchParams(params);
  next.delete('marker');
  next.append('marker', page.at(-1)!.id);
  return [{ rel: 'next', href: `${baseUrl}/v2.1/${collection}?${next.toString()}` }];
}
