import { KIND_SINCE, PROTOCOL_VERSION, REQUEST_KINDS, type AgentRequest, type RequestKind, type RequestOf, type ResultOf } from '../contracts/messages.ts';
import { isVmconsoleError, VmconsoleError, type ErrorCode } from '../errors.ts';
import type { AgentReply } from './envelope.ts';
import type { RequestOptions } from './requester.ts';

/** What askHost needs from a requester (lib/transport/requester.ts). */
export interface HostRequester {
  request(host: string, request: AgentRequest, options: RequestOptions): Promise<AgentReply>;
}

/** A kind's request without what askHost adds itself. */
export type AskOf<K extends RequestKind> = Omit<RequestOf<K>, 'v' | 'kind'>;

export interface AskOptions extends RequestOptions {
  /** The protocol version to ask in (lib/transport/protocol-version.ts: versionFor the host); PROTOCOL_VERSION if not given. */
  version?: number;
  /** The clock the wait is measured with (the tenant's "within N s"); Date.now if not given. */
  now?: () => number;
}

/** The failures a host may report about a server it was asked for (drivers' errors, lib/hypervisors/driver.ts). */
const HOST_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BadRequest', 'Forbidden', 'ServerNotFound', 'NoConsole', 'NotImplemented', 'Internal']);

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * The one way to ask a compute host for something: every request kind (console output today;
 * remote-console connection info, cursor reads, diagnostics, log export next) goes through here.
 * Sends the request to the host named, checks the result against the kind's schema, and turns
 * every failure into the catalogued error: the host's own `{ok:false}` keeps its code, message and
 * detail; a silent host is a HostTimeout whose message does not name it (the host is in `detail`).
 */
export async function askHost<K extends RequestKind>(
  requester: HostRequester,
  kind: K,
  host: string,
  request: AskOf<K>,
  { deadline, requestId, now = Date.now, version = PROTOCOL_VERSION }: AskOptions,
): Promise<ResultOf<K>> {
  const spec = REQUEST_KINDS[kind];
  const since = KIND_SINCE[kind];
  if (since !== undefined && version < since) {
    throw new VmconsoleError('HostIncompatible', 'The compute host of this server runs an agent too old for this request. Its agent must be upgraded.', {
      detail: `host ${host} was asked in host protocol ${version}; ${kind} needs ${since} or later`,
    });
  }
  const body = spec.request.parse({ ...request, v: version, kind }) as AgentRequest;
  const waitMs = Math.max(0, deadline - now());
  let reply: AgentReply;
  try {
    reply = await requester.request(host, body, { deadline, requestId });
  } catch (err) {
    if (isVmconsoleError(err) && err.code === 'HostTimeout') {
      throw new VmconsoleError('HostTimeout', `The compute host of this server did not answer within ${seconds(waitMs)}.`, {
        detail: `host ${host} did not answer ${kind} request ${requestId} within ${seconds(waitMs)}`,
        cause: err,
      });
    }
    throw err;
  }
  if (reply.v !== version) {
    throw new VmconsoleError('Internal', 'The compute host sent a malformed reply.', { detail: `host ${host} answered a version ${version} ${kind} request in version ${reply.v}` });
  }
  if (!reply.ok) {
    const { code, message, detail } = reply.error;
    const where = `host ${host}${detail === undefined ? '' : `: ${detail}`}`;
    // A host speaks for its own servers only: it may not make the edge answer 401, 429 or 409 in
    // its own words. Anything else it sends is its failure.
    if (!HOST_CODES.has(code)) {
      throw new VmconsoleError('Internal', 'The compute host failed to answer.', { detail: `${where} (answered ${code}: ${message})` });
    }
    throw new VmconsoleError(code, message, { detail: where });
  }
  const result = spec.result.safeParse(reply.result);
  if (!result.success) {
    throw new VmconsoleError('Internal', 'The compute host sent a malformed reply.', {
      detail: `host ${host} sent a ${kind} result that does not match its schema: ${result.error.issues[0]?.message ?? ''}`,
      cause: result.error,
    });
  }
  return result.data as ResultOf<K>;
}
