import type { HostRecord, ServerRecord } from '../contracts/records.ts';
import { isHostDown, silentFor } from '../directory/host-liveness.ts';
import { VmconsoleError } from '../errors.ts';

export interface HostLookup {
  getHost(host: string): Promise<HostRecord | undefined>;
}

/**
 * The host record of a server's compute host when it is worth asking: registered, not in
 * maintenance, heartbeating. Otherwise the 409 that says why, at once, instead of a 504 later.
 * Which host it is goes to the operator (`detail`), not to the tenant.
 */
export async function reachableHost(directory: HostLookup, server: ServerRecord, now: number): Promise<HostRecord> {
  const host = await directory.getHost(server.host);
  if (!host) {
    throw new VmconsoleError('NoHost', `Instance ${server.id} is not ready: its compute host is not registered.`, {
      detail: `host ${server.host} has no host record`,
    });
  }
  if (host.maintenance) {
    // The agent said it stopped (an upgrade, a reboot): not a failure, and no use waiting for it.
    throw new VmconsoleError('HostMaintenance', 'The compute host of this server is in maintenance. Try again later.', {
      detail: `host ${host.host}: ${host.maintenance.reason} at ${new Date(host.maintenance.since).toISOString()}`,
    });
  }
  if (isHostDown(host, now)) {
    throw new VmconsoleError('HostDown', 'The compute host of this server is down.', {
      detail: `host ${host.host}: last heartbeat ${Math.round(silentFor(host, now) / 1000)}s ago`,
    });
  }
  return host;
}
