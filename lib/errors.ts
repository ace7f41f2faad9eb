/**
 * The error catalogue: every failure vmconsole can report, with its HTTP status.
 * Code anywhere throws `new VmconsoleError(code, message)`; the Nova API maps it to a Nova fault
 * body in exactly one place (lib/nova-api/faults.ts), and the agent sends `code` back over the
 * transport so the edge can rethrow the same error.
 */
export const ERRORS = {
  BadRequest: { status: 400 },
  Unauthorized: { status: 401 },
  Forbidden: { status: 403 },
  ServerNotFound: { status: 404 },
  NoConsole: { status: 404 },
  RouteNotFound: { status: 404 },
  MethodNotAllowed: { status: 405 },
  NotAcceptable: { status: 406 },
  HostDown: { status: 409 },
  NoHost: { status: 409 },
  PayloadTooLarge: { status: 413 },
  UnsupportedMediaType: { status: 415 },
  Internal: { status: 500 },
  NotImplemented: { status: 501 },
  TransportUnavailable: { status: 503 },
  HostTimeout: { status: 504 },
} as const satisfies Record<string, { status: number }>;

export type ErrorCode = keyof typeof ERRORS;
export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

export class VmconsoleError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VmconsoleError';
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

export function isVmconsoleError(err: unknown): err is VmconsoleError {
  return err instanceof VmconsoleError;
}
