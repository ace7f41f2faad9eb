import type { HostRecord, ServerRecord } from '../contracts/records.ts';
import { VmconsoleError } from '../errors.ts';
import { isHostDown, silentFor } from './host-liveness.ts';

export interface HostLookup {
  getHost(host: string): Promise<HostRecord | undefined>;
}

/**
 * The compute host to ask about `server`, or why there is no use asking it: not registered (409
 * NoHost), stopped for maintenance (409 HostMaintenance, at once: not a failure, and no use
 * waiting), or silent past its heartbeat (409 HostDown). Which host it is goes to the operator
 * (`detail`), never to the tenant. Every edge use case that asks a host starts here.
 */
export async function hostToAsk(directory: HostLookup, server: Pick<ServerRecord, 'id' | 'host'>, now: number): Promise<HostRecord> {
  const host = await directory.getHost(server.host);
  if (!host) {
    throw new VmconsoleError('NoHost', `Instance ${server.id} is not ready: its compute host is not registered.`, {
      detail: `host ${server.host} has no host record`,
    });
  }
  if (host.maintenance) {
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
