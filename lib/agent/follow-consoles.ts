import { FollowerPool, type ConsoleConsumer, type FollowerPoolOptions } from '../console/follower-pool.ts';
import type { DiscoveredServer, HypervisorDriver, ServerHandle } from '../hypervisors/driver.ts';
import type { Logger } from '../logger.ts';
import { tapListings } from './tap-listings.ts';

/**
 * The seam where a consumer of console output plugs into the agent: one consumer per followed
 * console, made when its follower starts. The crash analyser's first-stage scan goes here; so
 * will history shipping.
 */
export type ConsoleConsumerFactory = (server: ServerHandle) => ConsoleConsumer;

export interface ConsoleFollowing {
  /** Hands every listing the inventory sync makes to the pool (no second listServers call). */
  tap(driver: HypervisorDriver): HypervisorDriver;
  stop(): Promise<void>;
}

/**
 * The agent's log followers: one per console of the servers the driver lists, each handing new
 * output to `consumerFor`'s consumer. Undefined (and said once) when the driver cannot name log
 * sets. The pool's events become the operator's log lines here: skips at most once a minute per
 * console, problems once until they change.
 */
export function followConsoles(options: {
  driver: HypervisorDriver;
  roots: readonly string[];
  consumerFor: ConsoleConsumerFactory;
  logger: Logger;
  /** The pool's limits and report period (defaults in follower-pool.ts); tests shorten the period. */
  limits?: Pick<FollowerPoolOptions<DiscoveredServer>, 'maxFollowers' | 'totalBytesPerSecond' | 'perFollowerBytesPerSecond' | 'reportEveryMs'>;
}): ConsoleFollowing | undefined {
  const { driver, roots, consumerFor, logger } = options;
  if (!driver.consoleLogSet) {
    logger.warn('console following is on, but this driver cannot name console log sets; not following', { driver: driver.kind });
    return undefined;
  }
  const consoleLogSet = driver.consoleLogSet.bind(driver);
  const pool = new FollowerPool<DiscoveredServer>({
    ...options.limits,
    roots,
    locate: (server) => consoleLogSet({ id: server.id, instanceName: server.instanceName }),
    consumerFor: (server) => consumerFor({ id: server.id, instanceName: server.instanceName }),
    observer: {
      started: (e) => logger.debug('following console', e),
      stopped: (e) => logger.debug('no longer following console', e),
      skipped: (e) => logger.warn('console output skipped: the guest writes faster than its share of the follow rate', e),
      mode: (e) => (e.mode === 'poll' ? logger.info('console followed by polling', e) : logger.debug('console followed through inotify', e)),
      problem: (e) => logger.warn('console follow problem', e),
      over_capacity: (e) => logger.warn('more consoles than followers; these are not followed', { max: e.max, count: e.unfollowed.length, unfollowed: e.unfollowed.slice(0, 20) }),
    },
  });
  let stopped = false;
  return {
    tap(inner) {
      return tapListings(inner, (servers) => {
        if (!stopped) pool.sync(servers).catch((err) => logger.error('console following failed to follow the listing', { err }));
      });
    },
    async stop() {
      stopped = true;
      await pool.stop();
    },
  };
}
