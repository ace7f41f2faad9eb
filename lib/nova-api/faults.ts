import type { Principal } from '../auth/principal.ts';
import { ERRORS, isVmconsoleError } from '../errors.ts';
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

/** What a caller reads for a code whose message is not exposed; the request id leads to the log. */
const GENERIC_TEXT: Readonly<Record<number, string>> = {
  500: 'Unexpected API Error.',
  503: 'The service is temporarily unavailable; try again shortly.',
};

export interface Fault {
  status: number;
  name: string;
  message: string;
  body: Record<string, { code: number; message: string; retryAfter?: string }>;
  headers?: Record<string, string>;
}

export function faultName(status: number): string {
  return FAULT_NAMES[status] ?? 'computeFault';
}

export function fault(status: number, message: string): Fault {
  const name = faultName(status);
  return { status, name, message, body: { [name]: { code: status, message } } };
}

function generic(status: number, requestId: string): string {
  return `${GENERIC_TEXT[status] ?? GENERIC_TEXT[500]} The request ${requestId} failed; the operator log has the details.`;
}

export interface FaultContext {
  /** `req-<uuid>`, as in the x-openstack-request-id header. */
  requestId: string;
  /** Who asked, when authentication got that far: admins read operator detail, tenants never. */
  viewer?: Principal | undefined;
  logger: Logger;
  /** For a 429: the Retry-After header, and Nova's `retryAfter` in the body. */
  retryAfterSeconds?: number | undefined;
}

/**
 * What a caller may read of an error (section "How vmconsole differs" in the README):
 * - an exposed code shows its message, written to be tenant-safe;
 * - a code that is not exposed (500, 503) shows a generic text and the request id;
 * - `detail` (host names, paths, URIs, stderr, SDK text) is appended for admins only, like the host
 *   attributes Nova shows admins only; for a code that is not exposed admins also read its message;
 * - anything that is not a VmconsoleError is a bug: generic 500 for everyone, stack in the log.
 * Every 5xx, and every error with operator detail, is logged as JSON with the request id.
 */
export function faultFromError(err: unknown, context: FaultContext): Fault {
  const { requestId, viewer, logger } = context;
  if (!isVmconsoleError(err)) {
    logger.error('unexpected error', { requestId, err: err instanceof Error ? err : String(err) });
    return fault(500, generic(500, requestId));
  }
  const { expose } = ERRORS[err.code];
  if (err.status >= 500 || err.detail !== undefined) {
    // `reason`, not `message`: Powertools owns the message key of a log line.
    const entry = { requestId, code: err.code, status: err.status, reason: err.message, detail: err.detail, cause: err.cause === undefined ? undefined : String(err.cause) };
    if (err.status >= 500) logger.error('request failed', entry);
    else logger.info('request refused', entry);
  }
  let message = expose ? err.message : generic(err.status, requestId);
  if (viewer?.isAdmin) {
    const operatorText = [expose ? undefined : err.message, err.detail].filter((t) => t !== undefined && t !== '');
    if (operatorText.length > 0) message = `${message} (operator detail: ${operatorText.join('; ')})`;
  }
  const result = fault(err.status, message);
  if (err.status === 429 && context.retryAfterSeconds !== undefined) {
    result.body[result.name]!.retryAfter = String(context.retryAfterSeconds);
    result.headers = { 'Retry-After': String(context.retryAfterSeconds) };
  }
  return result;
}
