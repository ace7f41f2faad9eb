import { ensureHostQueue } from '../transport/host-queue.ts';
import { HostConsumer } from '../transport/host-consumer.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { coalesceEvents } from '../hypervisors/coalesce-events.ts';
import type { Logger } from '../logger.ts';
import type { AgentConfig } from './config.ts';
import { createDriver } from './create-driver.ts';
import { createRequestHandler } from './handle-request.ts';
import { syncInventory } from './sync-inventory.ts';

export const AGENT_VERSION = '0.1.0';

export interface RunningAgent {
  queueUrl: string;
  dlqUrl: string;
  stop(): Promise<void>;
}

/**
 * Start serving one host: provision its queue, publish its inventory and heartbeat, follow the
 * hypervisor's events, and answer requests until stopped.
 */
export async function startAgent(config: AgentConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<RunningAgent> {
  const sqs = createSqsClient(env);
  const directory = new Directory(createDocumentClient(env), config.tableName, { logger });
  const driver = await createDriver(config);
  await driver.start?.();
  const { queueUrl, dlqUrl } = await ensureHostQueue(sqs, { prefix: config.hostQueuePrefix, host: config.host });
  const replyQueueUrlPrefix = config.replyQueueUrlPrefix ?? `${queueUrl.slice(0, queueUrl.lastIndexOf('/') + 1)}${config.replyQueuePrefix}`;

  const lifetime = new AbortController();
  const inventory = serialized(async () => {
    const counts = await syncInventory({ directory, driver, host: config.host });
    if (counts.written + counts.removed > 0) logger.info('inventory synced', counts);
  });
  const heartbeat = () => directory.putHost({
    host: config.host,
    queueUrl,
    hypervisor: driver.kind,
    heartbeatAt: Date.now(),
    heartbeatIntervalMs: config.heartbeatMs,
    agentVersion: AGENT_VERSION,
  });

  await inventory();
  await heartbeat();

  // Drivers with events keep the directory current within seconds; the periodic sync is the
  // safety net (and the only source for drivers without events).
  const resync = coalesceEvents(() => void inventory().catch((err) => logger.error('inventory sync failed', { err })), 150, lifetime.signal);
  driver.watch?.(resync, lifetime.signal);
  const fullSyncEvery = driver.watch ? 6 : 1;
  let beats = 0;
  const timer = setInterval(() => {
    beats += 1;
    heartbeat().catch((err) => logger.error('heartbeat failed', { err }));
    if (beats % fullSyncEvery === 0) inventory().catch((err) => logger.error('inventory sync failed', { err }));
  }, config.heartbeatMs);

  const consumer = new HostConsumer({
    sqs,
    queueUrl,
    replyQueueUrlPrefix,
    concurrency: config.concurrency,
    handle: createRequestHandler(driver, logger),
    logger,
  });
  consumer.start();
  logger.info('agent started', { host: config.host, driver: config.driver, queueUrl, replyQueueUrlPrefix, roots: config.logRoots });

  return {
    queueUrl,
    dlqUrl,
    async stop() {
      clearInterval(timer);
      lifetime.abort();
      await consumer.stop();
      await driver.stop?.();
      sqs.destroy();
    },
  };
}

/** Run `task` one at a time; calls made while it runs collapse into a single follow-up run. */
function serialized(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await task();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  return run;
}
