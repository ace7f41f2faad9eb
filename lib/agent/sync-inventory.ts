import type { HostInventory } from '../contracts/records.ts';
import type { Directory } from '../directory/directory.ts';
import type { Registrar } from '../directory/registrar.ts';
import type { HypervisorDriver } from '../hypervisors/driver.ts';

export interface InventoryTarget {
  directory: Directory;
  driver: HypervisorDriver;
  host: string;
  /**
   * Where the agent registers its servers itself (VMCONSOLE_REGISTRAR=agent: local stacks, tests).
   * Deployed, agents have no write permission on server records and the stack's registrar applies
   * the inventory from the directory's stream: leave this out.
   */
  registrar?: Registrar;
  /** The inventory this agent wrote last: an unchanged one is not written again. */
  last?: HostInventory;
  now?: () => number;
}

export interface InventorySync {
  present: number;
  written: number;
  removed: number;
  /** Servers another live host still runs (the registrar left them with it). */
  refused: number;
  inventory: HostInventory;
}

/**
 * Say what runs on this host: its inventory goes into its own directory item, then the registrar
 * makes the server records show it (lib/directory/registrar.ts): a server a live host still runs is
 * not taken from it, and a server that left this host is released only while it still names it,
 * so a server live-migrated elsewhere keeps the record its new host has.
 */
export async function syncInventory({ directory, driver, host, registrar, last, now = Date.now }: InventoryTarget): Promise<InventorySync> {
  const discovered = await driver.listServers();
  const servers = discovered.map(({ id, name, projectId, userId, state, instanceName }) => ({ id, name, projectId, userId, state, instanceName }));
  let inventory: HostInventory = { host, hypervisor: driver.kind, servers, updatedAt: now() };
  // A steady host writes its inventory once, not at every sync.
  if (last && sameInventory(last, inventory)) inventory = last;
  else await directory.putInventory(inventory);
  const counts = registrar ? await registrar.register(host) : { present: servers.length, written: 0, removed: 0, refused: 0 };
  return { ...counts, inventory };
}

function sameInventory(a: HostInventory, b: HostInventory): boolean {
  return a.host === b.host && a.hypervisor === b.hypervisor && JSON.stringify(a.servers) === JSON.stringify(b.servers);
}
