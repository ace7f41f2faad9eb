import type { ServerRecord } from '../contracts/records.ts';
import type { Directory } from '../directory/directory.ts';
import type { HypervisorDriver } from '../hypervisors/driver.ts';

export interface InventoryTarget {
  directory: Directory;
  driver: HypervisorDriver;
  host: string;
  now?: () => number;
}

/**
 * Make the directory show exactly the servers on this host. Records of servers that left are
 * removed only while they still name this host, so a server live-migrated elsewhere keeps the
 * record its new host wrote.
 */
export async function syncInventory({ directory, driver, host, now = Date.now }: InventoryTarget): Promise<{ present: number; written: number; removed: number }> {
  const [discovered, known] = await Promise.all([driver.listServers(), directory.serversOnHost(host)]);
  const at = now();
  const records: ServerRecord[] = discovered.map((server) => ({ ...server, host, hypervisor: driver.kind, updatedAt: at }));
  const knownById = new Map(known.map((r) => [r.id, r]));
  // Only changed records are written: a steady host costs one Query per sync, not N writes.
  const changed = records.filter((r) => !sameServer(r, knownById.get(r.id)));
  if (changed.length > 0) await directory.putServers(changed);
  const present = new Set(records.map((r) => r.id));
  const gone = known.filter((r) => !present.has(r.id)).map((r) => r.id);
  if (gone.length > 0) await directory.removeServers(host, gone);
  return { present: records.length, written: changed.length, removed: gone.length };
}

function sameServer(a: ServerRecord, b: ServerRecord | undefined): boolean {
  return b !== undefined && a.name === b.name && a.projectId === b.projectId && a.userId === b.userId
    && a.host === b.host && a.hypervisor === b.hypervisor && a.state === b.state && a.instanceName === b.instanceName;
}
