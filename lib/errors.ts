/**
 * The error catalogue: every failure vmconsole can report, with its HTTP status and whether its
 * message may be shown to the caller (middy's `expose`, fastify's catalogue).
 *
 * Rules every thrower follows:
 * - `message` is what a tenant may read when the code is exposed: no host names, paths, URIs,
 *   another component's stderr or SDK error text. For codes that are not exposed the caller sees
 *   the catalogue's generic text and a request id instead, so `message` may be operator detail.
 * - `detail` (optional) is operator detail for any code: logged with the request id, never shown
 *   to a tenant (an admin principal may see it; the Nova API's fault mapping decides).
 * Code anywhere throws `new VmconsoleError(code, message, { detail, cause })`; the Nova API maps it to
 * a Nova fault body in exactly one place (lib/nova-api/faults.ts), and the agent sends code, message
 * and detail back over the transport so the edge can rethrow the same error.
 */
export const ERRORS = {
  BadRequest: { status: 400, expose: true },
  Unauthorized: { status: 401, expose: true },
  Forbidden: { status: 403, expose: true },
  ServerNotFound: { status: 404, expose: true },
  NoConsole: { status: 404, expose: true },
  RouteNotFound: { status: 404, expose: true },
  MethodNotAllowed: { status: 405, expose: true },
  NotAcceptable: { status: 406, expose: true },
  HostDown: { status: 409, expose: true },
  HostMaintenance: { status: 409, expose: true },
  HostIncompatible: { status: 409, expose: true },
  NoHost: { status: 409, expose: true },
  /** The guest has no screen (no graphics device, or a hypervisor vmconsole takes no pictures of): /vmconsole/v1 screenshot. */
  NoGraphics: { status: 409, expose: true },
  PayloadTooLarge: { status: 413, expose: true },
  UnsupportedMediaType: { status: 415, expose: true },
  /** A console read past the end of the console's history (`since` beyond `end`). */
  OffsetOutOfRange: { status: 416, expose: true },
  RateLimited: { status: 429, expose: true },
  Internal: { status: 500, expose: false },
  NotImplemented: { status: 501, expose: true },
  TransportUnavailable: { status: 503, expose: false },
  HostTimeout: { status: 504, expose: true },
} as const satisfies Record<string, { status: number; expose: boolean }>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

export interface VmconsoleErrorOptions extends ErrorOptions {
  /** Operator detail: logged with the request id, never shown to a tenant. */
  detail?: string;
}

export class VmconsoleError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options?: VmconsoleErrorOptions) {
    super(message, options);
    this.name = 'VmconsoleError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = options?.detail;
  }
}

export function isVmconsoleError(err: unknown): err is VmconsoleError {
  return err instanceof VmconsoleError;
}

/**
 * What a tenant reads of a host-side failure whose thrower gave no operator detail (tenantSafe),
 * and of every refusal to read a log outside the agent's roots.
 */
export const TENANT_TEXT = {
  Forbidden: 'The console log of this server is outside what vmconsole may read on its host.',
  ServerNotFound: 'The server is not on its compute host.',
  NoConsole: 'This server has no console log.',
  NotImplemented: 'The compute host of this server cannot do this.',
  hostFailure: 'The request failed on the compute host.',
} as const;

/**
 * The rule every failure leaving a compute host follows: `message` is what a tenant may read,
 * `detail` the rest. A thrower that gave `detail` wrote a tenant-safe message; one that did not is
 * not trusted: its message becomes the detail and the caller gets the code's plain text (replies
 * reach automation clients as they are, so this holds for codes the edge hides too). Anything that
 * is not a VmconsoleError is Internal, its text only in the detail.
 */
export function tenantSafe(err: unknown): VmconsoleError {
  if (!isVmconsoleError(err)) {
    return new VmconsoleError('Internal', TENANT_TEXT.hostFailure, { detail: err instanceof Error ? err.message : String(err), cause: err });
  }
  if (err.detail !== undefined) return err;
  const text = (TENANT_TEXT as Partial<Record<string, string>>)[err.code] ?? TENANT_TEXT.hostFailure;
  return new VmconsoleError(err.code, text, { detail: err.message, cause: err });
}
