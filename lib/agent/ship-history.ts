import { FollowerPool } from '../console/follower-pool.ts';
import { VmconsoleError } from '../errors.ts';
import { ConsoleHistory, type ConsoleHistoryOptions } from '../history/console-history.ts';
import { readSegments, type HistoryStore } from '../history/history-store.ts';
import type { RotatedLog } from '../console/rotated-log.ts';
import { consoleLogsOf } from '../hypervisors/console-logs.ts';
import type { DiscoveredServer, DriverEvent, HypervisorDriver, ServerHandle } from '../hypervisors/driver.ts';
import type { Logger } from '../logger.ts';
import { tapListings } from './tap-listings.ts';

/**
 * History followers read every byte: a guest above this is flooding, and what its follower skips
 * never reaches history (logged as lost). Well above a serial console's ~11.5 KiB/s.
 */
const HISTORY_BYTES_PER_SECOND = 4 * 1024 * 1024;
const HISTORY_TOTAL_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** The console the Nova API's window is taken from (Nova's semantics: the first serial port). */
const NOVA_PORT = 0;

/** One followed console: the pool's id is the server's id and the port. */
interface FollowedConsole {
  id: string;
  serverId: string;
  port: number;
  log: RotatedLog | undefined;
  /** Why the server's consoles could not be named this time (the pool keeps what it follows). */
  error?: Error;
}

const consoleKey = (serverId: string, port: number) => `${serverId}:${port}`;

export interface HistoryShipping {
  /** Hands every listing the inventory sync makes to the followers (as followConsoles does). */
  tap(driver: HypervisorDriver): HypervisorDriver;
  /** A driver event: ship before a server stops, crashes, is destroyed or migrates away. */
  onDriverEvent(event: DriverEvent): void;
  /** console.read: bytes from `since`, waiting up to `waitMs` for new ones. */
  read(server: ServerHandle, port: number, since: number, limit: number, waitMs: number, signal: AbortSignal): Promise<{ held: number; next: number; shipped: number; offset: number; data: Buffer }>;
  /**
   * The last `window` bytes of the server's whole history (the Nova API's window): what the log
   * holds now, read first, then what S3 has before what the host holds. Undefined when the server
   * is not followed or S3 cannot give the older part: the caller reads the log as before.
   */
  window(server: ServerHandle, window: number, signal?: AbortSignal): Promise<Buffer | undefined>;
  /** console.ports: the followed consoles of a server, lowest port first. */
  ports(server: ServerHandle): { port: number; next: number }[];
  /** Ships everything held (agent shutdown), then stops following. */
  stop(): Promise<void>;
}

/**
 * The agent's console history (README, "Console history"): a log follower per server console,
 * each feeding a ConsoleHistory that numbers the bytes in the console's sequence and ships them to
 * S3. A follower starts where S3's head says this host stopped (the file and position of the last
 * shipped byte, when the head is this host's), else with everything the log set holds: a server new
 * to the host (migrated in, or first followed) continues the sequence from the head's `next`. A
 * head that cannot be read (S3 down) leaves the server unfollowed until the next listing: its bytes
 * stay on disk meanwhile.
 */
export function shipHistory(options: {
  driver: HypervisorDriver;
  roots: readonly string[];
  store: HistoryStore;
  host: string;
  logger: Logger;
  history?: Pick<ConsoleHistoryOptions, 'keepBytes' | 'maxUnshippedBytes' | 'shipEveryMs'>;
}): HistoryShipping | undefined {
  const { driver, roots, store, host, logger } = options;
  if (!driver.consoleLogSet && !driver.consoleLogs) {
    logger.warn('console history is on, but this driver cannot name console log sets; no history kept', { driver: driver.kind });
    return undefined;
  }
  const followed = new Map<string, { serverId: string; port: number; history: ConsoleHistory }>();
  /** Final ships of consoles no longer followed: a console that comes back waits for them before reading the head. */
  const closing = new Map<string, Promise<void>>();
  const keysOf = (serverId: string) => [...followed].filter(([, f]) => f.serverId === serverId).map(([k]) => k);
  const observer: ConsoleHistoryOptions['observer'] = {
    shipped: (e) => logger.debug('console history shipped', e),
    ship_failed: (e) => logger.warn('console history could not be shipped; kept on the host and retried', { serverId: e.serverId, port: e.port, retryInMs: e.retryInMs, err: String(e.error) }),
    rebased: (e) => logger.warn('console history: another host shipped this console meanwhile; this host\'s bytes go after it', e),
    lost: (e) => logger.warn('console output lost to history', e),
  };
  const pool = new FollowerPool<FollowedConsole>({
    roots,
    perFollowerBytesPerSecond: HISTORY_BYTES_PER_SECOND,
    totalBytesPerSecond: HISTORY_TOTAL_BYTES_PER_SECOND,
    locate: async (c) => {
      if (c.error) throw c.error;
      return c.log;
    },
    startFor: async (c) => {
      await closing.get(c.id);
      const head = await store.getHead(c.serverId, c.port);
      const history = new ConsoleHistory({ serverId: c.serverId, port: c.port, host, head, store, observer, ...options.history });
      followed.set(c.id, { serverId: c.serverId, port: c.port, history });
      return head?.host === host && head.file ? { resume: head.file } : 'all';
    },
    consumerFor: (c) => {
      const history = followed.get(c.id)!.history;
      return {
        chunk: (chunk, info) => history.chunk(chunk, info),
        reset: (e) => history.reset(e),
        rotated: (e) => history.rotated(e),
        skipped: (e) => history.skipped(e),
        close: () => {
          followed.delete(c.id);
          const done = history.ship('no longer followed').finally(() => {
            history.dispose();
            if (closing.get(c.id) === done) closing.delete(c.id);
          });
          closing.set(c.id, done);
        },
      };
    },
    observer: {
      started: (e) => logger.debug('keeping console history', e),
      problem: (e) => logger.warn('console history follow problem', e),
      skipped: (e) => logger.warn('console output skipped by the history follower: the guest writes faster than its share', e),
      over_capacity: (e) => logger.warn('more consoles than history followers; these keep no history', { max: e.max, count: e.unfollowed.length }),
    },
  });
  let stopped = false;
  const flush = async (serverId: string, reason: string) => {
    await Promise.all(keysOf(serverId).map(async (key) => {
      await pool.drain(key);
      await followed.get(key)?.history.ship(reason);
    }));
  };
  /**
   * A server's consoles for the pool, one per port with a log. A server whose consoles cannot be
   * named now keeps the ones it has followed (the pool keeps a console whose locate fails).
   */
  const consolesOf = async (servers: readonly DiscoveredServer[]): Promise<FollowedConsole[]> => {
    const all = await Promise.all(servers.map(async (server): Promise<FollowedConsole[]> => {
      try {
        const logs = await consoleLogsOf(driver, { id: server.id, instanceName: server.instanceName });
        return logs.map(({ port, log }) => ({ id: consoleKey(server.id, port), serverId: server.id, port, log }));
      } catch (err) {
        const kept = keysOf(server.id).map((key) => ({ id: key, serverId: server.id, port: followed.get(key)!.port, log: undefined, error: err as Error }));
        return kept.length > 0 ? kept : [{ id: consoleKey(server.id, 0), serverId: server.id, port: 0, log: undefined, error: err as Error }];
      }
    }));
    return all.flat();
  };
  return {
    tap(inner) {
      return tapListings(inner, (servers) => {
        if (!stopped) consolesOf(servers).then((consoles) => pool.sync(consoles)).catch((err) => logger.error('console history failed to follow the listing', { err }));
      });
    },
    onDriverEvent(event) {
      if (event.type === 'resync') return;
      // Before the log is wiped (append='off' at the next QEMU start) or the server is gone from this host.
      if (['stopped', 'crashed', 'undefined', 'migrated-out'].includes(event.type)) {
        flush(event.server.id, `server ${event.type}`).catch((err) => logger.warn('console history flush failed', { serverId: event.server.id, err: String(err) }));
      }
    },
    async read(server, port, since, limit, waitMs, signal) {
      const history = followed.get(consoleKey(server.id, port))?.history;
      if (!history) {
        throw new VmconsoleError('NoConsole', port === NOVA_PORT ? 'This server has no console log on its host.' : `This server has no console on port ${port}.`, {
          detail: `server ${server.id} port ${port} is not followed on this host`,
        });
      }
      await history.waitFor(since, waitMs, signal);
      return history.read(since, limit);
    },
    async window(server, window, signal) {
      const key = consoleKey(server.id, NOVA_PORT);
      if (!followed.has(key)) return undefined;
      // What the guest wrote up to now, as a direct read of the log would see it.
      await pool.drain(key);
      const history = followed.get(key)?.history;
      if (!history) return undefined;
      const { held, next } = history.state;
      const from = Math.max(0, next - window);
      const recent = history.read(from, window).data;
      if (from >= held) return recent;
      try {
        const older = await readSegments(store, await store.listSegments(server.id, NOVA_PORT, from, held, signal), from, held, signal);
        return older.length === held - from ? Buffer.concat([older, recent]) : undefined;
      } catch (err) {
        logger.warn('console history: the window\'s older part is not readable in S3; reading the log', { serverId: server.id, err: String(err) });
        return undefined;
      }
    },
    ports(server) {
      return keysOf(server.id).map((key) => followed.get(key)!).map(({ port, history }) => ({ port, next: history.state.next })).sort((a, b) => a.port - b.port);
    },
    async stop() {
      stopped = true;
      await Promise.all([...followed.keys()].map((key) => pool.drain(key)));
      // Stopping the pool closes every consumer, which ships what it holds.
      await pool.stop();
      await Promise.all([...closing.values()]);
    },
  };
}
