import type { Principal } from '../auth/principal.ts';
import { ConsolePort, MAX_READ_BYTES, MAX_READ_WAIT_MS, type ResultOf } from '../contracts/messages.ts';
import type { HostRecord } from '../contracts/records.ts';
import { isHostDown } from '../directory/host-liveness.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { findVisibleServer, type ServerLookup } from '../servers/find-visible-server.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { THIS_BUILD, versionFor } from '../transport/protocol-version.ts';
import { readSegments, type HistoryStore } from './history-store.ts';

/** Bytes one API read returns at most (base64 in JSON: 1.4 MB, inside Lambda's 6 MB). */
export const MAX_API_LIMIT = 1024 * 1024;
export const DEFAULT_API_LIMIT = 64 * 1024;
/** Time kept after the host's answer for S3 reads and the response. */
const AFTER_HOST_MS = 2_500;

export interface HistoryDeps {
  directory: ServerLookup & { getHost(host: string): Promise<HostRecord | undefined> };
  requester: HostRequester;
  /** Console history in S3; absent when the deployment keeps none (VMCONSOLE_HISTORY_BUCKET unset). */
  store: HistoryStore | undefined;
  logger: Logger;
  /** How long the edge waits for a host's reply (VMCONSOLE_REPLY_TIMEOUT_MS). */
  replyTimeoutMs: number;
  protocolMax?: number;
  now?: () => number;
}

export interface ConsoleQuery {
  port: number;
  /** Undefined: from the oldest byte still held (`start`). */
  since: number | undefined;
  limit: number;
  format: 'raw' | 'text';
  waitMs: number;
}

export interface ConsoleRead {
  port: number;
  /** The first byte returned. */
  offset: number;
  /** The offset to ask for next (offset + bytes returned). */
  next: number;
  /** The oldest offset still held (S3 or the host). */
  start: number;
  /** The newest offset known: the console's next byte when this was read. */
  end: number;
  data: Buffer;
  /** S3 or the host could not be read: bytes may exist that this answer does not have. */
  incomplete: boolean;
  /** Bytes from `since` that are not returned: nobody holds them any more (`missing`: expired by retention, or lost) or they could not be read now (`unavailable`). */
  gap?: { from: number; to: number; reason: 'missing' | 'unavailable' };
}

function badRequest(message: string): VmconsoleError {
  return new VmconsoleError('BadRequest', message);
}

/** An unsigned decimal integer of at most `digits` digits, or undefined when absent; anything else is a BadRequest naming the parameter. */
function integerParam(name: string, raw: string | undefined, max: number, rule: string): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) > max) throw badRequest(`Invalid ${name}: ${rule}.`);
  return Number(raw);
}

/** The query string of GET .../console, checked: every problem is a BadRequest that names the parameter and the rule. */
export function parseConsoleQuery(query: Record<string, string | undefined>): ConsoleQuery {
  const port = integerParam('port', query.port, ConsolePort.maxValue ?? 31, `an integer from 0 to ${ConsolePort.maxValue}`) ?? 0;
  const since = integerParam('since', query.since, Number.MAX_SAFE_INTEGER, 'a byte offset, an integer from 0 (pass back "next")');
  const limit = integerParam('limit', query.limit, MAX_API_LIMIT, `an integer from 1 to ${MAX_API_LIMIT}`) ?? DEFAULT_API_LIMIT;
  if (limit < 1) throw badRequest(`Invalid limit: an integer from 1 to ${MAX_API_LIMIT}.`);
  const format = query.format ?? 'text';
  if (format !== 'raw' && format !== 'text') throw badRequest('Invalid format: raw or text.');
  const wait = integerParam('wait', query.wait, MAX_READ_WAIT_MS / 1000, `whole seconds from 0 to ${MAX_READ_WAIT_MS / 1000}`) ?? 0;
  return { port, since, limit, format, waitMs: wait * 1000 };
}

type HostPart = ResultOf<'console.read'> & { bytes: Buffer };

/**
 * GET /vmconsole/v1/servers/{id}/console: bytes of one console's history from `since`, at most
 * `limit`. The host's agent answers what it holds (the newest bytes, waiting up to `wait` for new
 * ones through its log follower); what is older comes from S3's segments. A host that cannot be
 * asked (down, in maintenance, too old, silent) or S3 unavailable still gives what the other has,
 * marked incomplete; bytes nobody holds (expired, lost) or that cannot be read now are named as a
 * gap, never skipped silently. Cost: one host request, and for bytes older than the host holds a
 * listing plus ranged GETs of the segments covering [since, since + limit).
 */
export async function readConsole(input: { principal: Principal; serverId: string; query: ConsoleQuery; requestId: string; deadline: number }, deps: HistoryDeps): Promise<ConsoleRead> {
  const now = deps.now ?? Date.now;
  const { query } = input;
  const { port, limit } = query;
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const s3 = new S3Side(deps, server.id, port);
  // Only when `since` is not given does S3 say first where history starts.
  const since = query.since ?? (await s3.oldest()) ?? 0;

  let host: HostPart | undefined;
  let hostError: VmconsoleError | undefined;
  const usable = usableHost(await deps.directory.getHost(server.host), now());
  if (usable.ok) {
    try {
      const deadline = Math.min(input.deadline - AFTER_HOST_MS, now() + query.waitMs + deps.replyTimeoutMs);
      const result = await askHost(deps.requester, 'console.read', server.host, {
        server: { id: server.id, instanceName: server.instanceName }, port, since, limit: Math.min(limit, MAX_READ_BYTES), waitMs: query.waitMs,
      }, { deadline, requestId: input.requestId, now, version: usable.version });
      host = { ...result, bytes: Buffer.from(result.data, 'base64') };
    } catch (err) {
      if (!isVmconsoleError(err)) throw err;
      hostError = err;
    }
  } else hostError = usable.error;
  // "No such console" from the host: it holds nothing of it. Any other failure may hide bytes it holds.
  const hostMayHoldMore = hostError !== undefined && hostError.code !== 'NoConsole';
  if (hostError) deps.logger.info('console read without the host', { requestId: input.requestId, serverId: server.id, code: hostError.code, detail: hostError.detail });

  // S3 holds what is below the host's `held` (everything, when the host could not answer).
  const below = host ? host.held : Number.MAX_SAFE_INTEGER;
  let data: Buffer = Buffer.alloc(0);
  let offset = since;
  let gap: ConsoleRead['gap'];
  if (since < below) {
    const read = await s3.read(since, Math.min(below, since + limit));
    data = read.bytes;
    if (data.length === 0) {
      // Nothing at `since`: the first byte anyone holds after it is where this answer starts.
      const after = Math.min(read.nextStart ?? Number.MAX_SAFE_INTEGER, below);
      if (after !== Number.MAX_SAFE_INTEGER) {
        gap = { from: since, to: after, reason: s3.failed ? 'unavailable' : 'missing' };
        offset = after;
        if (after < below) data = (await s3.read(after, Math.min(below, after + limit))).bytes;
      } else if (s3.failed) {
        gap = { from: since, to: since, reason: 'unavailable' };
      }
    }
  }
  if (host && offset + data.length >= host.offset && data.length < limit) {
    const skip = offset + data.length - host.offset;
    data = Buffer.concat([data, host.bytes.subarray(skip, skip + limit - data.length)]);
  }

  const headNext = host ? undefined : await s3.headNext();
  const end = Math.max(host?.next ?? 0, headNext ?? 0, data.length > 0 ? offset + data.length : 0);
  if (!host && end === 0 && data.length === 0 && (await s3.oldest()) === undefined) {
    // Nobody has anything of this console: the host's own answer says why (no such port, no log, host down).
    if (hostError && !s3.failed) throw hostError;
    if (!hostError) throw new VmconsoleError('NoConsole', port === 0 ? 'This server has no console log.' : `This server has no console on port ${port}.`);
  }
  if (query.since !== undefined && query.since > end && !hostMayHoldMore && !s3.failed) {
    throw new VmconsoleError('OffsetOutOfRange', `Offset ${query.since} is past the end of this console's history (${end}).`);
  }
  if (gap?.to === gap?.from && gap) gap = undefined;
  if (query.format === 'text') data = data.subarray(0, completeUtf8Length(data));
  const oldest = await s3.oldest();
  const start = Math.min(oldest ?? Number.MAX_SAFE_INTEGER, host?.held ?? Number.MAX_SAFE_INTEGER, offset);
  return { port, offset, next: offset + data.length, start, end, data, incomplete: hostMayHoldMore || s3.failed, ...(gap && { gap }) };
}

/** S3's side of one read: lookups asked once, and whether any failed (the answer is then incomplete). */
class S3Side {
  failed = false;
  readonly #deps: HistoryDeps;
  readonly #serverId: string;
  readonly #port: number;
  #oldest: Promise<number | undefined> | undefined;

  constructor(deps: HistoryDeps, serverId: string, port: number) {
    this.#deps = deps;
    this.#serverId = serverId;
    this.#port = port;
  }

  oldest(): Promise<number | undefined> {
    this.#oldest ??= this.#try(() => this.#deps.store!.oldestOffset(this.#serverId, this.#port));
    return this.#oldest;
  }

  async headNext(): Promise<number | undefined> {
    return (await this.#try(() => this.#deps.store!.getHead(this.#serverId, this.#port)))?.next;
  }

  /** Bytes [from, to) as far as they run contiguously from `from`, and where the first segment after `from` starts when none holds `from`. */
  async read(from: number, to: number): Promise<{ bytes: Buffer; nextStart?: number }> {
    const result = await this.#try(async () => {
      const segments = await this.#deps.store!.listSegments(this.#serverId, this.#port, from, to);
      const bytes = await readSegments(this.#deps.store!, segments, from, to);
      const nextStart = segments.map((s) => s.start).filter((s) => s > from).sort((a, b) => a - b)[0]
        ?? (bytes.length === 0 ? (await this.#deps.store!.listSegments(this.#serverId, this.#port, from, Number.MAX_SAFE_INTEGER, undefined, 50)).map((s) => s.start).find((s) => s > from) : undefined);
      return { bytes, ...(nextStart !== undefined && { nextStart }) };
    });
    return result ?? { bytes: Buffer.alloc(0) };
  }

  async #try<T>(call: () => Promise<T>): Promise<T | undefined> {
    if (!this.#deps.store) return undefined;
    try {
      return await call();
    } catch (err) {
      this.failed = true;
      this.#deps.logger.warn('console history unavailable in S3', { serverId: this.#serverId, port: this.#port, err: String(err) });
      return undefined;
    }
  }
}

export function usableHost(record: HostRecord | undefined, now: number): { ok: true; version: number } | { ok: false; error: VmconsoleError } {
  if (!record) return { ok: false, error: new VmconsoleError('NoHost', 'The compute host of this server is not registered.') };
  if (record.maintenance) return { ok: false, error: new VmconsoleError('HostMaintenance', 'The compute host of this server is in maintenance. Try again later.') };
  if (isHostDown(record, now)) return { ok: false, error: new VmconsoleError('HostDown', 'The compute host of this server is down.', { detail: `host ${record.host}` }) };
  try {
    const version = versionFor(record, THIS_BUILD);
    if (version < 4) return { ok: false, error: new VmconsoleError('HostIncompatible', 'The compute host of this server runs an agent too old for console history. Its agent must be upgraded.', { detail: `host ${record.host} speaks protocol ${version}` }) };
    return { ok: true, version };
  } catch (err) {
    return { ok: false, error: err as VmconsoleError };
  }
}

/**
 * The length of `bytes` without a UTF-8 sequence cut at its end (format=text): the bytes of a
 * character split across two reads are returned whole by the next one instead of as two U+FFFD.
 */
export function completeUtf8Length(bytes: Buffer): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}
