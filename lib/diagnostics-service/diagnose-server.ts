import { randomUUID } from 'node:crypto';
import type { ServerRecord } from '../contracts/records.ts';
import { diagnoseConsole } from '../diagnostics/diagnose-console.ts';
import { isHostDown, silentFor } from '../directory/host-liveness.ts';
import { VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { HostLookup } from '../console-output/get-console-output.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { crashKey } from './crash-key.ts';
import type { DiagnosisRecord, DiagnosisTrigger } from './diagnosis-record.ts';
import type { DiagnosesStore } from './diagnoses-store.ts';
import type { DiagnosisPublisher } from './publish-diagnosis.ts';
import { takeScreenshot, type ScreenshotStore } from './screenshots.ts';

export interface DiagnoseDeps {
  directory: HostLookup;
  requester: HostRequester;
  store: DiagnosesStore;
  publisher: DiagnosisPublisher;
  logger: Logger;
  now?: () => number;
  /** Recent analyses shared by events for one server (see `diagnoseServer`). */
  recent?: RecentAnalyses;
  /** Where screenshots of guests with graphics go; none taken when absent. */
  screenshots?: ScreenshotStore;
}

export interface DiagnoseRequest {
  /** Epoch ms: nobody waits for the host after it. */
  deadline: number;
  requestId: string;
}

export interface DiagnoseOutcome {
  record: DiagnosisRecord;
  /** False when this crash had been diagnosed already: `record` is that diagnosis. */
  created: boolean;
}

/** How long one publisher holds a diagnosis before another may publish it (it died, say). */
const PUBLISH_LEASE_MS = 30_000;

/**
 * One crash diagnosis, the use case behind the events queue and `POST .../diagnose`:
 * 1. read the server's console window through its host's agent (askHost `console.output`, the
 *    whole log as the Nova API shapes it);
 * 2. analyse it (lib/diagnostics);
 * 3. store it unless its crash is stored already (crash-key.ts; a conditional put), with a
 *    screenshot for guests with graphics (screenshots.ts);
 * 4. publish what is not published yet, this one and older ones of the server (SNS down earlier):
 *    stored first, published after, so a publishing failure loses nothing. A failure to publish
 *    throws after the diagnosis is stored when `publish: 'required'` (the queue: the record comes
 *    back and tries again), and is only logged when `'best-effort'` (the API answers anyway).
 * `server` is the directory's record: the caller decided who may see it.
 */
export async function diagnoseServer(
  server: ServerRecord,
  trigger: DiagnosisTrigger,
  request: DiagnoseRequest & { publish: 'required' | 'best-effort' },
  deps: DiagnoseDeps,
): Promise<DiagnoseOutcome> {
  const analyse = () => analyseAndStore(server, trigger, request, deps);
  const outcome = deps.recent ? await deps.recent.share(server.id, analyse) : await analyse();
  try {
    await publishPending(server.id, outcome.record, deps);
  } catch (err) {
    if (request.publish === 'required') throw err;
    deps.logger.warn('diagnosis stored but not published; it is published with the next event for this server', { serverId: server.id, diagnosisId: outcome.record.id, err });
  }
  return outcome;
}

async function analyseAndStore(server: ServerRecord, trigger: DiagnosisTrigger, request: DiagnoseRequest, deps: DiagnoseDeps): Promise<DiagnoseOutcome> {
  const now = deps.now ?? Date.now;
  const host = await deps.directory.getHost(server.host);
  if (!host) {
    throw new VmconsoleError('NoHost', `Instance ${server.id} is not ready: its compute host is not registered.`, { detail: `host ${server.host} has no host record` });
  }
  if (isHostDown(host, now())) {
    throw new VmconsoleError('HostDown', 'The compute host of this server is down.', { detail: `host ${host.host}: last heartbeat ${Math.round(silentFor(host, now()) / 1000)}s ago` });
  }
  const { output } = await askHost(deps.requester, 'console.output', host.host, {
    server: { id: server.id, instanceName: server.instanceName },
    length: null,
  }, { deadline: request.deadline, requestId: request.requestId, now });
  const diagnosis = diagnoseConsole(output);
  const { boot, signature, key } = crashKey(diagnosis);
  const record: DiagnosisRecord = {
    v: 1,
    id: randomUUID(),
    serverId: server.id,
    projectId: server.projectId,
    serverName: server.name,
    createdAt: new Date(now()).toISOString(),
    crash: { boot, signature },
    trigger,
    published: false,
    diagnosis,
  };
  const claimed = await deps.store.claim(record, key);
  // A new crash of a guest with graphics: its screen too, linked before the diagnosis is published.
  if (claimed.created && diagnosis.category !== 'healthy' && deps.screenshots) {
    const screenshot = await takeScreenshot(server, record, request, { ...deps, screenshots: deps.screenshots });
    if (screenshot) {
      await deps.store.attachScreenshot(record, screenshot);
      record.screenshot = screenshot;
    }
  }
  if (claimed.created) deps.logger.info('diagnosis stored', { serverId: server.id, diagnosisId: record.id, category: diagnosis.category, severity: diagnosis.severity, source: trigger.source, requestId: request.requestId });
  return claimed;
}

/** Publish `current` and any older diagnosis of the server that SNS did not take yet. */
async function publishPending(serverId: string, current: DiagnosisRecord, deps: DiagnoseDeps): Promise<void> {
  const pending = current.published ? await deps.store.unpublished(serverId) : [current, ...(await deps.store.unpublished(serverId)).filter((r) => r.id !== current.id)];
  let failure: unknown;
  // Oldest first, so subscribers see a server's diagnoses in the order they happened.
  for (const record of pending.reverse()) {
    if (!(await deps.store.claimPublish(record, PUBLISH_LEASE_MS))) continue;
    try {
      await deps.publisher.publish(record);
    } catch (err) {
      await deps.store.releasePublish(record).catch(() => undefined);
      failure ??= new VmconsoleError('TransportUnavailable', 'The diagnosis is stored but could not be published.', { detail: `SNS: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, cause: err });
      continue;
    }
    const at = new Date((deps.now ?? Date.now)()).toISOString();
    await deps.store.markPublished(record, at);
    if (record.id === current.id) Object.assign(current, { published: true, publishedAt: at });
  }
  if (failure !== undefined) throw failure;
}

/**
 * Events for one server handled at the same time (a storm: the agent, an alarm and SQS's duplicates
 * for one panic; a batch of ten copies, whose records run concurrently) share one analysis: the
 * first reads the console, the others wait for its result. Only analyses in flight are shared, never
 * a finished one: an event that comes after an analysis may be about a crash that analysis could
 * not see yet (the alarm came first, the panic line after), so it reads the console again. The
 * store's conditional put is what makes a crash diagnosed once across execution environments; this
 * spares the host most reads of one log in a storm (1,000 events in batches of 10: at most one read
 * per batch in flight).
 */
export class RecentAnalyses {
  readonly #inFlight = new Map<string, Promise<DiagnoseOutcome>>();

  async share(serverId: string, analyse: () => Promise<DiagnoseOutcome>): Promise<DiagnoseOutcome> {
    const running = this.#inFlight.get(serverId);
    if (running) {
      const shared = await running;
      return { record: shared.record, created: false };
    }
    const outcome = analyse();
    this.#inFlight.set(serverId, outcome);
    const done = () => {
      if (this.#inFlight.get(serverId) === outcome) this.#inFlight.delete(serverId);
    };
    outcome.then(done, done);
    return outcome;
  }
}
