import { isVmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/**
 * The one place where errors become Nova fault responses. Nova's clients print `message` from
 * `{"<faultName>": {"code": N, "message": "..."}}`; the names follow Nova's wsgi Fault table, and
 * every status Nova does not name (500, 504, 406, ...) is a `computeFault`, as in Nova.
 */
const FAULT_NAMES: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

export interface Fault {
  status: number;
  name: string;
  message: string;
  body: Record<string, { code: number; message: string }>;
}

export function faultName(status: number): string {
  return FAULT_NAMES[status] ?? 'computeFault';
}

export function fault(status: number, message: string): Fault {
  const name = faultName(status);
  return { status, name, message, body: { [name]: { code: status, message } } };
}

/**
 * Our own errors carry a status and a message written for the caller; anything else is a bug or
 * an outage we did not classify, so the caller gets a generic 500 and the details go to the log
 * only (stacks and internal names must never reach a client).
 */
export function faultFromError(err: unknown, requestId: string, logger: Logger): Fault {
  if (isVmconsoleError(err)) {
    if (err.status >= 500) logger.warn('request failed', { code: err.code, reason: err.message, requestId });
    return fault(err.status, err.message);
  }
  logger.error('unexpected error', { err: err instanceof Error ? err : String(err), requestId });
  return fault(500, `Unexpected API Error. The request ${requestId} failed; the vmconsole API log has the details.`);
}
