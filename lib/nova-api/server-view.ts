import type { Principal } from '../auth/principal.ts';
import type { ServerRecord, ServerState } from '../contracts/records.ts';
import { compareMicroversions, MIN_MICROVERSION, type Microversion } from './microversion.ts';

/** Nova's status and power_state for each vm_state we know (nova/api/openstack/common.py). */
const NOVA_STATE: Record<ServerState, { status: string; vmState?: string; powerState: number }> = {
  active: { status: 'ACTIVE', vmState: 'active', powerState: 1 },
  building: { status: 'BUILD', vmState: 'building', powerState: 0 },
  paused: { status: 'PAUSED', vmState: 'paused', powerState: 3 },
  stopped: { status: 'SHUTOFF', vmState: 'stopped', powerState: 4 },
  crashed: { status: 'ERROR', vmState: 'error', powerState: 6 },
  suspended: { status: 'SUSPENDED', vmState: 'suspended', powerState: 7 },
  // Nova has no vm_state for "we cannot tell"; like its down-cell view, only the status says so.
  unknown: { status: 'UNKNOWN', powerState: 0 },
};

/** The Nova status of a server, as `GET /servers/{id}` shows it and `?status=` filters on. */
export function novaStatus(state: ServerState): string {
  return NOVA_STATE[state].status;
}

/** The states `?status=` asks for (case-insensitive, as Nova upper-cases it); unknown names match nothing. */
export function statesWithStatus(statuses: readonly string[]): ServerState[] {
  const wanted = new Set(statuses.map((s) => s.toUpperCase()));
  return (Object.keys(NOVA_STATE) as ServerState[]).filter((state) => wanted.has(NOVA_STATE[state].status));
}

export function serverLinks(baseUrl: string, id: string) {
  return [
    { rel: 'self', href: `${baseUrl}/v2.1/servers/${id}` },
    { rel: 'bookmark', href: `${baseUrl}/servers/${id}` },
  ];
}

/** `GET /servers` entries: what both CLIs read to resolve a name. */
export function serverSummary(server: ServerRecord, baseUrl: string) {
  return { id: server.id, name: server.name, links: serverLinks(baseUrl, server.id) };
}

function novaTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The server document at microversion 2.1, limited to what the directory truly knows:
 * `image` is "" (Nova's value for volume-backed servers, so clients do not ask Glance),
 * metadata is empty, the flavor is a reference to an unknown flavor (openstackclient's
 * `server list` reads `flavor['id']` below 2.47; its flavor lookup survives our 404), and the host
 * attributes are shown to admins only, as Nova's default policy does.
 */
const UNKNOWN_FLAVOR = { id: 'unknown', links: [] } as const;

/**
 * The admin-only attributes microversion 2.3 adds (Nova's extended server attributes for the EC2
 * API). None of them is in the directory (they live in Nova's database, if anywhere): present, as
 * 2.3 promises, and null rather than guessed.
 */
const V23_EXTENDED_ATTRIBUTES = {
  'OS-EXT-SRV-ATTR:reservation_id': null,
  'OS-EXT-SRV-ATTR:launch_index': null,
  'OS-EXT-SRV-ATTR:hostname': null,
  'OS-EXT-SRV-ATTR:kernel_id': null,
  'OS-EXT-SRV-ATTR:ramdisk_id': null,
  'OS-EXT-SRV-ATTR:root_device_name': null,
  'OS-EXT-SRV-ATTR:user_data': null,
} as const;

export function serverDetail(server: ServerRecord, baseUrl: string, viewer: Principal, microversion: Microversion = MIN_MICROVERSION) {
  const state = NOVA_STATE[server.state];
  return {
    ...serverSummary(server, baseUrl),
    status: state.status,
    tenant_id: server.projectId,
    user_id: server.userId,
    metadata: {},
    flavor: UNKNOWN_FLAVOR,
    image: '',
    updated: novaTime(server.updatedAt),
    ...(state.vmState ? { 'OS-EXT-STS:vm_state': state.vmState } : {}),
    'OS-EXT-STS:power_state': state.powerState,
    'OS-EXT-STS:task_state': null,
    ...(viewer.isAdmin
      ? {
          'OS-EXT-SRV-ATTR:host': server.host,
          'OS-EXT-SRV-ATTR:hypervisor_hostname': server.host,
          'OS-EXT-SRV-ATTR:instance_name': server.instanceName,
          ...(compareMicroversions(microversion, { major: 2, minor: 3 }) >= 0 ? V23_EXTENDED_ATTRIBUTES : {}),
        }
      : {}),
  };
}
