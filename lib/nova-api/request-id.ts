import { randomUUID } from 'node:crypto';

/**
 * oslo.middleware's rule for an inbound request id (Nova's `global_request_id`): `req-` and a
 * lower-case UUID. Anything else (absent, another shape, a header a client stuffed with log
 * noise) is replaced by a fresh one, so the id an operator greps for is always of one shape.
 */
const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

/** The caller's request id when it has Nova's shape, else a new one. */
export function requestIdFrom(given: string | undefined): string {
  return given !== undefined && REQUEST_ID.test(given) ? given : newRequestId();
}
