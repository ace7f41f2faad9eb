import { authenticate } from '../auth/authenticate.ts';
import type { AuthConfig } from '../auth/config.ts';
import type { Principal } from '../auth/principal.ts';
import { AUTOMATION_VERSION, type AutomationReply, type AutomationRequest } from '../contracts/automation.ts';
import type { HostRecord } from '../contracts/records.ts';
import { isHostDown, silentFor } from '../directory/host-liveness.ts';
import { ERRORS, isVmconsoleError, VmconsoleError, type ErrorCode } from '../errors.ts';
import type { KeyedRateLimiter } from '../limits/token-bucket.ts';
import type { Logger } from '../logger.ts';
import type { ServerFinder } from '../servers/list-servers.ts';
import type { HostRequester } from '../transport/ask-host.ts';
import type { AutomationReplies } from '../transport/automation-replies.ts';
import { decodeAutomationRequest } from '../transport/envelope.ts';
import { isMissingQueue } from '../transport/sqs-errors.ts';
import { THIS_BUILD, versionFor, type ProtocolRange } from '../transport/protocol-version.ts';
import { askHostsInChunks, type ChunkPlan, type HostShare, type RouterAnswer } from './ask-hosts-in-chunks.ts';
import { expandTargets, type Target } from './expand-targets.ts';

/** Requests without a token act for the deployment's operators: every project, hosts included. */
export const OPERATORS: Principal = { userId: 'operators', projectId: 'operators', roles: ['admin'], isAdmin: true };

/** The longest a batch is waited for, whatever the function's timeout. */
export const MAX_BATCH_WAIT_MS = 60_000;
/** Left to the function after the batch deadline to send the last HostTimeouts. */
export const ROUTER_MARGIN_MS = 5_000;

/** The batch deadline for a function with `remainingMs` left. */
export function batchDeadline(now: number, remainingMs: number): number {
  return now + Math.max(0, Math.min(MAX_BATCH_WAIT_MS, remainingMs - ROUTER_MARGIN_MS));
}

export interface RouterDeps {
  directory: ServerFinder & { getHost(host: string): Promise<HostRecord | undefined> };
  requester: HostRequester;
  /** The client allow-list and the sender of replies (shared with the agents' rule). */
  replies: AutomationReplies;
  auth: AuthConfig;
  requireToken: boolean;
  /** Per project (and for all projects together), counted in servers. */
  limiter: KeyedRateLimiter;
  logger: Logger;
  now?: () => number;
  plan?: ChunkPlan;
  /** The newest host protocol version to speak (VMCONSOLE_PROTOCOL_MAX, as the HTTP edge); this build's if not given. */
  protocolMax?: number;
}

/**
 * A message no reply can be sent for (no usable replyTo or requestId, or a replyTo outside the
 * allow-list). The handler reports it as a batch item failure: it is received again and, after
 * the queue's maxReceiveCount, lands in the dead-letter queue, where an operator finds it with
 * the requestId the log names. Nothing is ever sent to a queue outside the allow-list.
 */
export class UnanswerableRequest extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnanswerableRequest';
  }
}

export interface RouteOutcome {
  requestId: string;
  total: number;
  /** Servers the router answered itself (refused, host down, host timeout, rate-limited). */
  answeredHere: number;
  chunks: number;
}

/**
 * One automation request (lib/contracts/automation.ts): validate, authenticate, expand the target
 * set through the directory, apply the project's rate limit (one token per server), answer what
 * can be answered here (unknown servers, hosts down, refusals) and send each host its share in
 * chunks; the agents answer the client's queue themselves, the router never relays an output.
 * Failures of our own infrastructure (directory, SQS) throw, so the message is retried.
 */
export async function routeConsoleRequest(body: string | undefined, { deadline }: { deadline: number }, deps: RouterDeps): Promise<RouteOutcome> {
  const now = deps.now ?? Date.now;
  const decoded = decodeAutomationRequest(body);
  if (!decoded.ok) {
    const { replyTo, requestId, code, problem } = decoded;
    if (replyTo === undefined || requestId === undefined || !deps.replies.isAllowed(replyTo)) {
      deps.logger.warn('automation request refused; no allowed replyTo to answer, left for the DLQ', { requestId, replyTo: replyTo?.slice(0, 200), problem });
      throw new UnanswerableRequest(`refused request ${requestId ?? '(no requestId)'}: ${problem}`);
    }
    deps.logger.warn('automation request refused', { requestId, code, problem });
    await sendUnexpandable({ requestId, replyTo }, new VmconsoleError(code, `Invalid request: ${problem}`), deps);
    return { requestId, total: 0, answeredHere: 1, chunks: 0 };
  }
  const request = decoded.request;
  const { requestId, replyTo } = request;
  if (!deps.replies.isAllowed(replyTo)) {
    deps.logger.warn('automation request refused: replyTo is not an allowed client reply queue; never answered, left for the DLQ', { requestId, replyTo: replyTo.slice(0, 200) });
    throw new UnanswerableRequest(`request ${requestId}: replyTo not allowed`);
  }

  let principal: Principal;
  let targets: Target[];
  try {
    principal = await principalOf(request, deps);
    targets = await expandTargets(request, principal, deps.directory);
  } catch (err) {
    // Our own outage or bug (directory, JWKS): the message is retried, then dead-lettered.
    if (!isVmconsoleError(err) || err.code === 'TransportUnavailable' || err.code === 'Internal') throw err;
    deps.logger.warn('automation request not expanded', { requestId, code: err.code, message: err.message, detail: err.detail });
    await sendUnexpandable(request, err, deps);
    return { requestId, total: 0, answeredHere: 1, chunks: 0 };
  }
  const total = targets.length;
  const answer = answerer(request, total, deps);

  const verdict = deps.limiter.take(principal.projectId, total);
  if (!verdict.allowed) {
    const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
    const error = new VmconsoleError('RateLimited', `This request was rate-limited (${total} servers). Retry after ${seconds} s.`);
    deps.logger.warn('automation request rate-limited', { requestId, projectId: principal.projectId, servers: total, retryAfterS: seconds, scope: verdict.scope });
    await answer(targets.map(({ seq, serverId }) => ({ seq, serverId, error })));
    return { requestId, total, answeredHere: total, chunks: 0 };
  }

  const speaks = { ...THIS_BUILD, max: deps.protocolMax ?? THIS_BUILD.max };
  const { failures, shares } = await sharesByHost(targets, deps.directory, now(), speaks);
  await answer(failures);
  const { chunks, hostTimeouts } = await askHostsInChunks({
    shares, total, clientRequestId: requestId, replyTo, length: request.length ?? null, deadline,
  }, { requester: deps.requester, answer, now, ...(deps.plan && { plan: deps.plan }) });
  const outcome = { requestId, total, answeredHere: failures.length + hostTimeouts, chunks };
  deps.logger.info('automation request routed', { ...outcome, hosts: shares.length, hostTimeouts, projectId: principal.projectId });
  return outcome;
}

/** The servers to ask, by host; those whose host will not be asked (or that failed already) as answers. */
async function sharesByHost(targets: readonly Target[], directory: RouterDeps['directory'], now: number, speaks: ProtocolRange): Promise<{ failures: RouterAnswer[]; shares: HostShare[] }> {
  const failures: RouterAnswer[] = [];
  const byHost = new Map<string, HostShare>();
  const hosts = new Map<string, Promise<HostRecord | undefined>>();
  for (const target of targets) {
    if ('error' in target) {
      failures.push(target);
      continue;
    }
    const name = target.server.host;
    if (!hosts.has(name)) hosts.set(name, directory.getHost(name));
    const record = await hosts.get(name)!;
    const down = hostProblem(name, record, now, speaks);
    if (down) failures.push({ seq: target.seq, serverId: target.serverId, error: down });
    else byHost.get(name)?.targets.push(target) ?? byHost.set(name, { host: name, version: versionFor(record!, speaks), targets: [target] });
  }
  return { failures, shares: [...byHost.values()] };
}

async function principalOf(request: AutomationRequest, deps: RouterDeps): Promise<Principal> {
  if (request.token !== undefined) return authenticate({ 'x-auth-token': request.token }, deps.auth);
  if (deps.requireToken) throw new VmconsoleError('Unauthorized', 'Authentication required: this deployment needs a token in every request.');
  return OPERATORS;
}

/** Why a host will not be asked: it never registered, its agent was stopped, or its heartbeat is stale. */
function hostProblem(name: string, host: HostRecord | undefined, now: number, speaks: ProtocolRange): VmconsoleError | undefined {
  if (!host) return new VmconsoleError('NoHost', 'This server is not ready: its compute host is not registered.', { detail: `host ${name} has no host record` });
  if (host.maintenance) {
    return new VmconsoleError('HostMaintenance', 'The compute host of this server is in maintenance. Try again later.', { detail: `host ${name}: ${host.maintenance.reason}` });
  }
  if (isHostDown(host, now)) {
    return new VmconsoleError('HostDown', 'The compute host of this server is down.', { detail: `host ${name}: last heartbeat ${Math.round(silentFor(host, now) / 1000)}s ago` });
  }
  try {
    versionFor(host, speaks);
  } catch (err) {
    return err as VmconsoleError;
  }
  return undefined;
}

/**
 * What a client reads of an error: the HTTP API's expose rule (lib/errors.ts). Exposed codes carry
 * their tenant-safe message; the others (Internal, TransportUnavailable) only the code's plain
 * text and the request id, the detail staying in the router's log.
 */
function replyError(error: VmconsoleError, requestId: string): { code: ErrorCode; message: string } {
  const message = ERRORS[error.code].expose ? error.message : `The request ${requestId} failed; the operator log has the details.`;
  return { code: error.code, message: message.slice(0, 1024) };
}

/**
 * Sends the router's own per-server replies. A client whose queue is gone is not waiting any
 * more: its replies are dropped (logged once), not retried.
 */
function answerer(request: Pick<AutomationRequest, 'requestId' | 'replyTo'>, total: number, deps: RouterDeps): (failures: RouterAnswer[]) => Promise<void> {
  let gone = false;
  return async (failures) => {
    if (failures.length === 0 || gone) return;
    const replies: AutomationReply[] = failures.map(({ seq, serverId, error }) => ({
      v: AUTOMATION_VERSION, requestId: request.requestId, serverId, seq, total, ok: false, error: replyError(error, request.requestId),
    }));
    logAnswers(request.requestId, failures, deps.logger);
    try {
      await deps.replies.send(request.replyTo, replies);
    } catch (err) {
      if (!isMissingQueue(err)) throw err;
      gone = true;
      deps.logger.warn('client reply queue is gone; its replies are dropped', { requestId: request.requestId, replyTo: request.replyTo });
    }
  };
}

/**
 * The operator's account of what the router answered itself: one line per distinct failure (a
 * dead host's 250 servers are one line), with the detail the client does not see (which host).
 */
function logAnswers(requestId: string, failures: readonly RouterAnswer[], logger: Logger): void {
  const groups = new Map<string, { error: VmconsoleError; seqs: number[] }>();
  for (const { seq, error } of failures) {
    const key = `${error.code}\n${error.message}\n${error.detail ?? ''}`;
    const group = groups.get(key) ?? groups.set(key, { error, seqs: [] }).get(key)!;
    group.seqs.push(seq);
  }
  for (const { error, seqs } of groups.values()) {
    const data = { requestId, code: error.code, message: error.message, detail: error.detail, servers: seqs.length, seqs: seqs.slice(0, 20) };
    if (ERRORS[error.code].expose) logger.info('servers answered by the router', data);
    else logger.error('servers failed in the router', data);
  }
}

async function sendUnexpandable(request: Pick<AutomationRequest, 'requestId' | 'replyTo'>, error: VmconsoleError, deps: RouterDeps): Promise<void> {
  try {
    await deps.replies.send(request.replyTo, [{ v: AUTOMATION_VERSION, requestId: request.requestId, serverId: null, seq: 0, total: 0, ok: false, error: replyError(error, request.requestId) }]);
  } catch (err) {
    if (!isMissingQueue(err)) throw err;
    deps.logger.warn('client reply queue is gone; its reply is dropped', { requestId: request.requestId, replyTo: request.replyTo });
  }
}
