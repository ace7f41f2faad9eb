import type { Principal } from '../auth/principal.ts';
import { VmconsoleError } from '../errors.ts';
import { findVisibleServer } from '../servers/find-visible-server.ts';
import { diagnoseServer, type DiagnoseOutcome } from './diagnose-server.ts';
import type { DiagnosisRecord } from './diagnosis-record.ts';
import { DIAGNOSIS_SORT_KEY } from './diagnoses-store.ts';
import type { EventDeps } from './handle-crash-event.ts';

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

/** The API's opaque `marker`: the last diagnosis's sort key, base64url. */
export const encodeMarker = (sortKey: string) => Buffer.from(sortKey).toString('base64url');

function decodeMarker(marker: string): string {
  const sortKey = /^[A-Za-z0-9_-]{1,200}$/.test(marker) ? Buffer.from(marker, 'base64url').toString() : '';
  if (!DIAGNOSIS_SORT_KEY.test(sortKey)) throw new VmconsoleError('BadRequest', 'Invalid marker: pass back the nextMarker of the previous page.');
  return sortKey;
}

function parseLimit(limit: string | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) {
    throw new VmconsoleError('BadRequest', `Invalid limit: an integer from 1 to ${MAX_LIMIT}.`);
  }
  return Number(limit);
}

/** GET /vmconsole/v1/servers/{id}/diagnoses: the server's diagnoses the caller may see, newest first, a page at a time. */
export async function listServerDiagnoses(
  input: { principal: Principal; serverId: string; limit?: string | undefined; marker?: string | undefined },
  deps: Pick<EventDeps, 'directory' | 'store'>,
): Promise<{ diagnoses: DiagnosisRecord[]; nextMarker?: string }> {
  const limit = parseLimit(input.limit);
  const after = input.marker === undefined ? undefined : decodeMarker(input.marker);
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const page = await deps.store.list(server.id, { limit, ...(after !== undefined && { after }) });
  return { diagnoses: page.records, ...(page.after !== undefined && { nextMarker: encodeMarker(page.after) }) };
}

/**
 * POST /vmconsole/v1/servers/{id}/diagnose: the diagnose function's use case, for a server the
 * caller may see, answered now. Publishing is best effort here: a stored diagnosis is returned
 * even while SNS is unavailable (`published: false`), and published with the server's next event.
 */
export async function diagnoseVisibleServer(
  input: { principal: Principal; serverId: string; requestId: string; deadline: number },
  deps: EventDeps,
): Promise<DiagnoseOutcome> {
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const trigger = { source: 'api', reason: `requested by user ${input.principal.userId.slice(0, 64)}`, at: Date.now() };
  return diagnoseServer(server, trigger, { deadline: input.deadline, requestId: input.requestId, publish: 'best-effort' }, deps);
}
