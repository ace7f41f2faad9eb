import type { Principal } from '../auth/principal.ts';
import type { HostRecord } from '../contracts/records.ts';
import { isHostDown } from '../directory/host-liveness.ts';
import { VmconsoleError } from '../errors.ts';

/** The only Nova service vmconsole has: each agent stands for its host's nova-compute. */
export const COMPUTE_BINARY = 'nova-compute';

export interface HostList {
  listHosts(): Promise<HostRecord[]>;
}

export interface ServiceFilter {
  /** Exact host name, as Nova's `?host=`. */
  host?: string;
  /** Exact binary, as Nova's `?binary=`: anything but nova-compute matches nothing here. */
  binary?: string;
}

/** One compute host as os-services reports it; lib/nova-api/service-view.ts shapes it for Nova. */
export interface ComputeService {
  host: string;
  binary: typeof COMPUTE_BINARY;
  /** No heartbeat within the liveness window, or stopped on purpose. */
  down: boolean;
  /** Set while the agent is stopped on purpose: os-services shows the host disabled with this reason. */
  disabledReason: string | undefined;
  /** Epoch ms of the last heartbeat (or of the stop). */
  updatedAt: number;
  agentVersion: string;
}

/**
 * Nova's `GET /os-services` over the agents' heartbeat records: admins only (Nova's default
 * policy `os_compute_api:os-services:list` is admin), one nova-compute per host.
 */
export async function listServices(
  input: { principal: Principal; filter: ServiceFilter },
  deps: { directory: HostList; now?: () => number },
): Promise<ComputeService[]> {
  if (!input.principal.isAdmin) {
    throw new VmconsoleError('Forbidden', "Policy doesn't allow os_compute_api:os-services:list to be performed.");
  }
  const { host, binary } = input.filter;
  if (binary !== undefined && binary !== COMPUTE_BINARY) return [];
  const now = (deps.now ?? Date.now)();
  const hosts = (await deps.directory.listHosts()).filter((h) => host === undefined || h.host === host);
  return hosts.map((h) => ({
    host: h.host,
    binary: COMPUTE_BINARY,
    down: h.maintenance !== undefined || isHostDown(h, now),
    disabledReason: h.maintenance?.reason,
    updatedAt: h.maintenance?.since ?? h.heartbeatAt,
    agentVersion: h.agentVersion,
  }));
}
