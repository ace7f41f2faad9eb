import { AutomationReplies } from '../transport/automation-replies.ts';
import { findHostQueue } from '../transport/host-queue.ts';
import { ReplyDestinations } from '../transport/queue-naming.ts';
import { Responder } from '../transport/responder.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { Registrar } from '../directory/registrar.ts';
import { coalesceEvents } from '../hypervisors/coalesce-events.ts';
import { MIN_PROTOCOL_VERSION } from '../contracts/messages.ts';
import type { HostInventory, HostRecord } from '../contracts/records.ts';
import { AGENT_SERVICE, type Logger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { meterResponderEvents } from '../transport/meter-responder-events.ts';
import type { AgentConfig } from './config.ts';
import { ConsoleSessions } from './console-sessions.ts';
import { createDriver } from './create-driver.ts';
import { consoleCrashScanner } from './console-crash-scanner.ts';
import { CrashEventSender } from './crash-events.ts';
import { followConsoles, type ConsoleConsumerFactory } from './follow-consoles.ts';
import { createRequestHandler } from './handle-request.ts';
import { shipHistory } from './ship-history.ts';
import { HistoryStore } from '../history/history-store.ts';
import { createHistoryS3Client } from '../history/s3-client.ts';
import { syncInventory } from './sync-inventory.ts';

export const AGENT_VERSION = '0.1.0';

/** What os-services shows as the disabled reason of a host whose agent was stopped on purpose. */
export const MAINTENANCE_REASON = 'maintenance: agent stopped';
/** A stop does not wait longer than this for the maintenance mark (DynamoDB out of reach). */
const MAINTENANCE_WRITE_MS = 3_000;

export interface RunningAgent {
  queueUrl: string;
  stop(): Promise<void>;
}

/** What plugs into a running agent from outside its configuration. */
export interface AgentSeams {
  /**
   * Where followed console output goes, one consumer per console (the crash analyser's first
   * stage). Consoles are followed when a consumer is plugged in here, unless VMCONSOLE_FOLLOW=off.
   */
  consoleConsumer?: ConsoleConsumerFactory;
}

/**
 * Start serving one host: find its queue (created at enrolment, `vmconsole-agent --enrol`), publish
 * its inventory and heartbeat, follow the hypervisor's events (and, when configured, its consoles'
 * output), and answer requests until stopped.
 */
export async function startAgent(config: AgentConfig, logger: Logger, env: NodeJS.ProcessEnv = process.env, seams: AgentSeams = {}): Promise<RunningAgent> {
  const sqs = createSqsClient(env);
  const dynamodb = createDocumentClient(env);
  const directory = new Directory(dynamodb, config.tableName, { logger });
  const driver = await createDriver(config);
  // Crash diagnostics: crashes the hypervisor reports, and crash signatures on the consoles
  // (followed unless VMCONSOLE_FOLLOW=off), go to the events queue when VMCONSOLE_EVENTS_QUEUE_URL
  // is set. Following with nothing to consume the output would only cost CPU.
  const crashes = config.eventsQueueUrl === undefined ? undefined : new CrashEventSender({ sqs, queueUrl: config.eventsQueueUrl, host: config.host, logger });
  const consoleConsumer = seams.consoleConsumer ?? (crashes && consoleCrashScanner(crashes));
  if (config.follow === 'on' && !consoleConsumer) logger.warn('VMCONSOLE_FOLLOW is on but no console consumer is plugged in (set VMCONSOLE_EVENTS_QUEUE_URL for crash events); not following');
  const following = config.follow !== 'off' && consoleConsumer
    ? followConsoles({ driver, roots: config.logRoots, consumerFor: consoleConsumer, logger })
    : undefined;
  // Console history (VMCONSOLE_HISTORY_BUCKET): its own followers, which read every byte from where
  // this host last shipped, whatever the crash scanner's followers do.
  const s3 = config.history && createHistoryS3Client(env);
  const history = config.history && s3
    ? shipHistory({ driver, roots: config.logRoots, store: new HistoryStore(s3, config.history.bucket), host: config.host, logger, history: { shipEveryMs: config.history.shipEveryMs } })
    : undefined;
  const release = async () => {
    // Followers go first: they read what the driver's collectors write. History ships what it holds.
    await history?.stop();
    s3?.destroy();
    await following?.stop();
    crashes?.close();
    await driver.stop?.();
    sqs.destroy();
    dynamodb.destroy();
  };
  await driver.start?.();
  // The queue exists from enrolment: the agent may not create it or change its attributes (IAM).
  const findQueue = () => findHostQueue(sqs, { prefix: config.hostQueuePrefix, host: config.host });
  let queueUrl: string;
  let replyDestinations: ReplyDestinations;
  let clientReplies: AutomationReplies;
  try {
    queueUrl = await findQueue();
    // Requests are answered on the requesters' reply queues (the HTTP edge's, the queue router's).
    replyDestinations = new ReplyDestinations([config.replyQueueUrlPrefix ?? ReplyDestinations.forEdgeReplies(queueUrl, config.replyQueuePrefix)], config.hostQueuePrefix);
    // Automation clients' queues are a list of their own: per-server replies go only there, and a
    // client's queue can never be named as a request's replyTo.
    const clientPrefixes = config.clientReplyUrlPrefixes;
    clientReplies = new AutomationReplies(sqs, clientPrefixes ? new ReplyDestinations(clientPrefixes, config.hostQueuePrefix) : undefined);
  } catch (err) {
    // A driver with background work (collectors) must not outlive a start that failed.
    await release();
    throw err;
  }

  const lifetime = new AbortController();
  const registrar = config.registrar === 'agent' ? new Registrar(directory, logger) : undefined;
  let lastInventory: HostInventory | undefined;
  // Claims another live host refused: retried at every heartbeat (it may release them at any time).
  let refused = 0;
  const inventory = serialized(async () => {
    // Every listing also tells the followers which consoles there are.
    const tapped = following ? following.tap(driver) : driver;
    const { inventory: written, ...counts } = await syncInventory({ directory, driver: history ? history.tap(tapped) : tapped, host: config.host, registrar, last: lastInventory });
    lastInventory = written;
    refused = counts.refused;
    if (counts.written + counts.removed > 0) logger.info('inventory synced', counts);
  });
  const hostRecord = (): HostRecord => ({
    host: config.host,
    queueUrl,
    hypervisor: driver.kind,
    heartbeatAt: Date.now(),
    heartbeatIntervalMs: config.heartbeatMs,
    agentVersion: AGENT_VERSION,
    // Agents of protocol 1 advertised nothing; one pinned to 1 writes the same record they did.
    ...(config.protocolMax > 1 && { protocolMin: MIN_PROTOCOL_VERSION, protocolMax: config.protocolMax }),
  });
  // The beat in flight, so a stop's maintenance mark is written after it, never overwritten by it.
  let beating: Promise<void> = Promise.resolve();
  const heartbeat = () => (beating = directory.putHost(hostRecord()));
  /**
   * A normal stop says so: the host record keeps its queue but is marked in maintenance, so the
   * edge answers its servers' requests 409 "in maintenance" at once and os-services shows it
   * disabled, instead of a host that looks dead after the liveness window. Best effort and bounded:
   * a stop never hangs on DynamoDB; without the mark the host is simply found down as after a crash.
   */
  const markMaintenance = async () => {
    await beating.catch(() => undefined);
    const now = Date.now();
    const write = directory.putHost({ ...hostRecord(), heartbeatAt: now, maintenance: { since: now, reason: MAINTENANCE_REASON } });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${MAINTENANCE_WRITE_MS} ms`)), MAINTENANCE_WRITE_MS);
    });
    try {
      await Promise.race([write, timeout]);
      logger.info('host marked in maintenance', { host: config.host });
    } catch (err) {
      logger.warn('could not mark the host in maintenance; it will look down once its heartbeat is stale', { err: String(err) });
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    await inventory();
    await heartbeat();
  } catch (err) {
    await release();
    throw err;
  }

  // Drivers with events keep the directory current within seconds; the periodic sync is the
  // safety net (and the only source for drivers without events).
  const resync = coalesceEvents(() => void inventory().catch((err) => logger.error('inventory sync failed', { err })), 150, lifetime.signal);
  driver.watch?.((event) => {
    resync(event);
    crashes?.onDriverEvent(event);
    history?.onDriverEvent(event);
  }, lifetime.signal);
  const fullSyncEvery = driver.watch ? 6 : 1;
  let beats = 0;
  const timer = setInterval(() => {
    beats += 1;
    heartbeat().catch((err) => logger.error('heartbeat failed', { err }));
    if (beats % fullSyncEvery === 0 || refused > 0) inventory().catch((err) => logger.error('inventory sync failed', { err }));
  }, config.heartbeatMs);

  // Remote consoles: the agent dials out to the relay per session and listens on nothing.
  const consoles = new ConsoleSessions({ relayPrefixes: config.relayUrlPrefixes ?? [], logger });
  const responder = new Responder({
    sqs,
    queueUrl,
    replyDestinations,
    concurrency: config.concurrency,
    handle: createRequestHandler(driver, { clientReplies, consoles, history }),
    // A queue deleted under the agent comes back only by enrolling the host again; until then each
    // receive retries the lookup with backoff.
    recreateQueue: findQueue,
    protocolMax: config.protocolMax,
  });
  logResponderEvents(responder, logger);
  meterResponderEvents(responder, createMetrics(AGENT_SERVICE), config.host);
  responder.start();
  logger.info('agent started', { host: config.host, protocol: `${MIN_PROTOCOL_VERSION}-${config.protocolMax}`, driver: config.driver, queueUrl, eventsQueueUrl: config.eventsQueueUrl, replyDestinations: replyDestinations.prefixes, clientReplyDestinations: clientReplies.prefixes, relayUrlPrefixes: consoles.prefixes, roots: config.logRoots, followingConsoles: following !== undefined, historyBucket: config.history?.bucket });

  return {
    queueUrl,
    async stop() {
      clearInterval(timer);
      lifetime.abort();
      // First, so the edge stops sending while the requests in flight are finished.
      await markMaintenance();
      await responder.stop();
      await consoles.stop();
      await release();
    },
  };
}

/** The agent's account of its transport: failures with the request id an operator greps for. */
function logResponderEvents(responder: Responder, logger: Logger): void {
  responder
    .on('request_failed', ({ requestId, correlationId, kind, reply, error }) => {
      const data = { requestId, correlationId, kind, code: reply.code, message: reply.message, detail: reply.detail };
      if (reply.code === 'Internal') logger.error('request failed', { ...data, stack: error instanceof Error ? error.stack : undefined });
      else logger.warn('request refused', data);
    })
    // The agent's one line per request, under the id the edge returned to the client.
    .on('replied', ({ requestId, correlationId, messageId, server, kind, outcome, ms }) => logger.info('request answered', { requestId, correlationId, messageId, server, kind, outcome, ms }))
    .on('dead_lettered', (e) => logger.error('message had its last receive; SQS moves it to the host DLQ', { ...e }))
    .on('dropped', (e) => logger.info('request dropped', { ...e }))
    .on('duplicate', (e) => logger.info('duplicate request ignored', { ...e }))
    .on('poison', (e) => logger.warn('poison message left for the DLQ', { ...e }))
    .on('receive_error', ({ error, retryInMs }) => logger.warn('receive failed; retrying', { error: String(error), retryInMs }))
    .on('processing_error', ({ error, ...ids }) => logger.error('request processing failed; it will be redelivered', { ...ids, error: String(error) }))
    .on('queue_error', ({ action, error }) => logger.warn(`${action} failed; at worst a redelivery, recognised as a duplicate`, { error: String(error) }))
    .on('queue_missing', (e) => logger.warn('host queue is gone; waiting for the host to be enrolled again (vmconsole-agent --enrol)', { ...e }))
    .on('queue_recreated', (e) => logger.info('host queue is back', { ...e }));
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
