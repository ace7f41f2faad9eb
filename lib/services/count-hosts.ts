import { isHostDown } from '../directory/host-liveness.ts';
import type { HostList } from './list-services.ts';

/** The fleet as the directory sees it now; os-services' view of the same records. */
export interface HostCounts {
  up: number;
  /** No heartbeat within the liveness window, not stopped on purpose: what the HostsDown alarm follows. */
  down: number;
  /** Stopped on purpose (maintenance): down for tenants, but nobody needs waking for it. */
  inMaintenance: number;
  downHosts: string[];
}

export async function countHosts(deps: { directory: HostList; now?: () => number }): Promise<HostCounts> {
  const now = (deps.now ?? Date.now)();
  const counts: HostCounts = { up: 0, down: 0, inMaintenance: 0, downHosts: [] };
  for (const host of await deps.directory.listHosts()) {
    if (host.maintenance !== undefined) counts.inMaintenance += 1;
    else if (isHostDown(host, now)) {
      counts.down += 1;
      counts.downHosts.push(host.host);
    } else counts.up += 1;
  }
  return counts;
}
