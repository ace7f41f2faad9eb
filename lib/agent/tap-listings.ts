import type { DiscoveredServer, HypervisorDriver } from '../hypervisors/driver.ts';

/**
 * The driver as the inventory sync uses it, telling `onList` of every listing it makes: how the
 * console followers and the history shipper learn which servers (and consoles) there are without a
 * listing of their own. `onList` must not throw; it runs after the listing is returned.
 */
export function tapListings(inner: HypervisorDriver, onList: (servers: DiscoveredServer[]) => void): HypervisorDriver {
  return {
    kind: inner.kind,
    readConsoleLog: inner.readConsoleLog.bind(inner),
    listServers: async () => {
      const servers = await inner.listServers();
      onList(servers);
      return servers;
    },
  };
}
