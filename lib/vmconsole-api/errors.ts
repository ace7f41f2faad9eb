import type { Principal } from '../auth/principal.ts';
import { ERRORS, isVmconsoleError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** vmconsole's own API error body (README, "/vmconsole/v1"): not Nova's fault format. */
export interface ApiErrorBody {
  error: { code: ErrorCode; message: string; requestId: string };
}

const GENERIC: Partial<Record<number, string>> = {
  500: 'Unexpected error.',
  503: 'The service is temporarily unavailable; try again shortly.',
};

/**
 * The one place where errors become /vmconsole/v1 error responses, by the catalogue's expose rule
 * (lib/errors.ts) as the Nova API applies it: an exposed code shows its message; others a generic
 * text and the request id; `detail` is appended for admins only; anything that is not a
 * VmconsoleError is an Internal 500, its stack in the log.
 */
export function apiError(err: unknown, context: { requestId: string; viewer?: Principal | undefined; logger: Logger }): { status: number; body: ApiErrorBody } {
  const { requestId, viewer, logger } = context;
  if (!isVmconsoleError(err)) {
    logger.error('unexpected error', { requestId, err: err instanceof Error ? err : String(err) });
    return { status: 500, body: { error: { code: 'Internal', message: `${GENERIC[500]} The request ${requestId} failed; the operator log has the details.`, requestId } } };
  }
  const { expose } = ERRORS[err.code];
  if (err.status >= 500 || err.detail !== undefined) {
    const entry = { requestId, code: err.code, status: err.status, reason: err.message, detail: err.detail, cause: err.cause === undefined ? undefined : String(err.cause) };
    if (err.status >= 500) logger.error('request failed', entry);
    else logger.info('request refused', entry);
  }
  let message = expose ? err.message : `${GENERIC[err.status] ?? GENERIC[500]} The request ${requestId} failed; the operator log has the details.`;
  if (viewer?.isAdmin) {
    const operatorText = [expose ? undefined : err.message, err.detail].filter((t) => t !== undefined && t !== '');
    if (operatorText.length > 0) message = `${message} (operator detail: ${operatorText.join('; ')})`;
  }
  return { status: err.status, body: { error: { code: err.code, message, requestId } } };
}
