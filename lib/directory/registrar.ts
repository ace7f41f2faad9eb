import type { InventoryEntry, ServerRecord } from '../contracts/records.ts';
import type { Logger } from '../logger.ts';
import type { Directory } from './directory.ts';
import { downAfterMs, silentFor } from './host-liveness.ts';

/** Two claims further apart than this are two conflicts, each logged once. */
export const CONFLICT_STREAK_GAP_MS = 120_000;
/**
 * How long a host that still lists a server must be silent before another host's claim wins. Far
 * longer than the edge's "down": a missed beat, a slow machine or an agent restart (an upgrade)
 * must not hand its servers to a host that lists the same UUIDs. A server really moved while its
 * host lives is released by that host (a live migration); one rebuilt elsewhere because its host
 * died (Nova's evacuate, which wants the host down first) is taken over after this.
 */
export const TAKEOVER_AFTER_SILENCE_MS = 5 * 60_000;

export interface Registration {
  /** Servers of the host's inventory. */
  present: number;
  /** Server records written (new, changed, taken over). */
  written: number;
  /** Records of servers that left the host, deleted. */
  removed: number;
  /** Servers the host claims that another live host still runs: left with that host. */
  refused: number;
}

/**
 * The only writer of server records. A host says what it runs in its own inventory item, which only
 * it can write (IAM, serverless.yml); the registrar applies that to the server records, which no
 * host can write, with conditional writes:
 * - a server nobody holds, or this host already holds, is written;
 * - a server another host holds is taken over only when that host no longer lists it, or has been
 *   silent for TAKEOVER_AFTER_SILENCE_MS, and only if the record is still the one judged (no race);
 * - otherwise the claim is refused and noted on the record (`contestedBy`): two live claimants are
 *   a conflict, logged once per streak, never a flip at every sync;
 * - a server that left the host is released, and handed at once to a claimant that was waiting
 *   for it (a live migration: the destination lists the guest before the source lets it go).
 * Deployed, the registrar runs on the directory's stream (functions/register-inventory.ts); a local
 * agent runs it itself after each sync (VMCONSOLE_REGISTRAR=agent, the default).
 */
export class Registrar {
  readonly #directory: Directory;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #takeoverAfterMs: number;

  constructor(directory: Directory, logger: Logger, options: { now?: () => number; takeoverAfterMs?: number } = {}) {
    this.#directory = directory;
    this.#logger = logger;
    this.#now = options.now ?? Date.now;
    this.#takeoverAfterMs = options.takeoverAfterMs ?? TAKEOVER_AFTER_SILENCE_MS;
  }

  async register(host: string): Promise<Registration> {
    const [inventory, known] = await Promise.all([this.#directory.getInventory(host), this.#directory.serversOnHost(host)]);
    const result: Registration = { present: 0, written: 0, removed: 0, refused: 0 };
    if (!inventory) return result;
    const records: ServerRecord[] = inventory.servers.map((entry) => toRecord(entry, host, inventory.hypervisor, inventory.updatedAt));
    result.present = records.length;
    const knownById = new Map(known.map((r) => [r.id, r]));
    // Only changed records are written: a steady host costs one read of each kind per registration.
    for (const record of records.filter((r) => !sameServer(r, knownById.get(r.id)))) {
      if (await this.#claim(record)) result.written += 1;
      else result.refused += 1;
    }
    const present = new Set(records.map((r) => r.id));
    for (const gone of known.filter((r) => !present.has(r.id))) {
      const { released, contestedBy } = await this.#directory.releaseServer(host, gone.id);
      if (!released) continue;
      result.removed += 1;
      if (contestedBy !== undefined) await this.#handOver(gone.id, contestedBy);
    }
    return result;
  }

  async #claim(record: ServerRecord): Promise<boolean> {
    const outcome = await this.#directory.claimServer(record);
    if (outcome.claimed) return true;
    const { holder } = outcome;
    if (!holder) return false;
    if (await this.#stillRuns(holder.host, record.id)) {
      await this.#noteConflict(holder, record.host);
      return false;
    }
    const taken = await this.#directory.takeOverServer(record, holder);
    if (taken) this.#logger.info('server taken over from a host that no longer runs it', { server: record.id, host: record.host, from: holder.host });
    return taken;
  }

  /** Whether `host` still lists the server and has not been silent for the takeover time: then it keeps it. */
  async #stillRuns(host: string, id: string): Promise<boolean> {
    const [record, inventory] = await Promise.all([this.#directory.getHost(host), this.#directory.getInventory(host)]);
    if (!record || silentFor(record, this.#now()) > Math.max(this.#takeoverAfterMs, downAfterMs(record))) return false;
    return inventory?.servers.some((s) => s.id.toLowerCase() === id.toLowerCase()) ?? false;
  }

  async #noteConflict(holder: ServerRecord, claimant: string): Promise<void> {
    const at = this.#now();
    const before = await this.#directory.markContested(holder.id, holder.host, claimant, at);
    const sameStreak = before?.contestedBy === claimant && before.contestedAt !== undefined && at - before.contestedAt < CONFLICT_STREAK_GAP_MS;
    if (!sameStreak) {
      this.#logger.warn('server claimed by two live hosts; it stays with the host that has it', { server: holder.id, host: holder.host, claimant });
    }
  }

  /** The server's host let it go while `claimant` was waiting for it: the claimant's own inventory decides. */
  async #handOver(id: string, claimant: string): Promise<void> {
    const inventory = await this.#directory.getInventory(claimant);
    const entry = inventory?.servers.find((s) => s.id.toLowerCase() === id.toLowerCase());
    if (!inventory || !entry) return;
    if (await this.#claim(toRecord(entry, claimant, inventory.hypervisor, inventory.updatedAt))) {
      this.#logger.info('server handed to the host that was waiting for it', { server: id, host: claimant });
    }
  }
}

/** Ids as the directory stores them (lower case): an inventory may list a hypervisor's upper-case UUID. */
function toRecord(entry: InventoryEntry, host: string, hypervisor: ServerRecord['hypervisor'], updatedAt: number): ServerRecord {
  return { ...entry, id: entry.id.toLowerCase(), host, hypervisor, updatedAt };
}

function sameServer(a: ServerRecord, b: ServerRecord | undefined): boolean {
  return b !== undefined && a.name === b.name && a.projectId === b.projectId && a.userId === b.userId
    && a.host === b.host && a.hypervisor === b.hypervisor && a.state === b.state && a.instanceName === b.instanceName;
}
