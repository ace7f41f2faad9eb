import { FollowerPool } from '../console/follower-pool.ts';
import { VmconsoleError } from '../errors.ts';
import { ConsoleHistory, type ConsoleHistoryOptions } from '../history/console-history.ts';
import { readSegments, type HistoryStore } from '../history/history-store.ts';
import type { DiscoveredServer, DriverEvent, HypervisorDriver, ServerHandle } from '../hypervisors/driver.ts';
import type { Logger } from '../logger.ts';

/**
 * History followers read every byte: a guest above this is flooding, and what its follower skips
 * never reaches history (logged as lost). Well above a serial console's ~11.5 KiB/s.
 */
const HISTORY_BYTES_PER_SECOND = 4 * 1024 * 1024;
const HISTORY_TOTAL_BYTES_PER_SECOND = 32 * 1024 * 1024;
/** Drivers name one log set per server today: its first serial port. */
const LOGGED_PORT = 0;

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
  /** console.ports: the followed consoles of a server. */
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
  if (!driver.consoleLogSet) {
    logger.warn('console history is on, but this driver cannot name console log sets; no history kept', { driver: driver.kind });
    return undefined;
  }
  const consoleLogSet = driver.consoleLogSet.bind(driver);
  const histories = new Map<string, ConsoleHistory>();
  /** Final ships of consoles no longer followed: a server that comes back waits for them before reading the head. */
  const closing = new Map<string, Promise<void>>();
  const observer: ConsoleHistoryOptions['observer'] = {
    shipped: (e) => logger.debug('console history shipped', e),
    ship_failed: (e) => logger.warn('console history could not be shipped; kept on the host and retried', { serverId: e.serverId, port: e.port, retryInMs: e.retryInMs, err: String(e.error) }),
    rebased: (e) => logger.warn('console history: another host shipped this console meanwhile; this host\'s bytes go after it', e),
    lost: (e) => logger.warn('console output lost to history', e),
  };
  const pool = new FollowerPool<DiscoveredServer>({
    roots,
    perFollowerBytesPerSecond: HISTORY_BYTES_PER_SECOND,
    totalBytesPerSecond: HISTORY_TOTAL_BYTES_PER_SECOND,
    locate: (server) => consoleLogSet({ id: server.id, instanceName: server.instanceName }),
    startFor: async (server) => {
      await closing.get(server.id);
      const head = await store.getHead(server.id, LOGGED_PORT);
      const history = new ConsoleHistory({ serverId: server.id, port: LOGGED_PORT, host, head, store, observer, ...options.history });
      histories.set(server.id, history);
      return head?.host === host && head.file ? { resume: head.file } : 'all';
    },
    consumerFor: (server) => {
      const history = histories.get(server.id)!;
      return {
        chunk: (chunk, info) => history.chunk(chunk, info),
        reset: (e) => history.reset(e),
        rotated: (e) => history.rotated(e),
        skipped: (e) => history.skipped(e),
        close: () => {
          histories.delete(server.id);
          const done = history.ship('no longer followed').finally(() => {
            history.dispose();
            if (closing.get(server.id) === done) closing.delete(server.id);
          });
          closing.set(server.id, done);
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
  const flush = async (id: string, reason: string) => {
    await pool.drain(id);
    await histories.get(id)?.ship(reason);
  };
  return {
    tap(inner) {
      return {
        kind: inner.kind,
        readConsoleLog: inner.readConsoleLog.bind(inner),
        listServers: async () => {
          const servers = await inner.listServers();
          if (!stopped) pool.sync(servers).catch((err) => logger.error('console history failed to follow the listing', { err }));
          return servers;
        },
      };
    },
    onDriverEvent(event) {
      if (event.type === 'resync') return;
      // Before the log is wiped (append='off' at the next QEMU start) or the server is gone from this host.
      if (['stopped', 'crashed', 'undefined', 'migrated-out'].includes(event.type)) {
        flush(event.server.id, `server ${event.type}`).catch((err) => logger.warn('console history flush failed', { serverId: event.server.id, err: String(err) }));
      }
    },
    async read(server, port, since, limit, waitMs, signal) {
      const history = port === LOGGED_PORT ? histories.get(server.id) : undefined;
      if (!history) {
        throw new VmconsoleError('NoConsole', port === LOGGED_PORT ? 'This server has no console log on its host.' : `This server has no console on port ${port}.`, {
          detail: `server ${server.id} port ${port} is not followed on this host`,
        });
      }
      await history.waitFor(since, waitMs, signal);
      return history.read(since, limit);
    },
    async window(server, window, signal) {
      if (!histories.has(server.id)) return undefined;
      // What the guest wrote up to now, as a direct read of the log would see it.
      await pool.drain(server.id);
      const history = histories.get(server.id);
      if (!history) return undefined;
      const { held, next } = history.state;
      const from = Math.max(0, next - window);
      const recent = history.read(from, window).data;
      if (from >= held) return recent;
      try {
        const older = await readSegments(store, await store.listSegments(server.id, LOGGED_PORT, from, held, signal), from, held, signal);
        return older.length === held - from ? Buffer.concat([older, recent]) : undefined;
      } catch (err) {
        logger.warn('console history: the window\'s older part is not readable in S3; reading the log', { serverId: server.id, err: String(err) });
        return undefined;
      }
    },
    ports(server) {
      const history = histories.get(server.id);
      return history ? [{ port: LOGGED_PORT, next: history.state.next }] : [];
    },
    async stop() {
      stopped = true;
      await Promise.all([...histories.keys()].map((id) => pool.drain(id)));
      // Stopping the pool closes every consumer, which ships what it holds.
      await pool.stop();
      await Promise.all([...closing.values()]);
    },
  };
}
