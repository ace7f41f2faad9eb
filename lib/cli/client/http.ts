import { CliError, EXIT_API, EXIT_AUTH, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_NOT_FOUND } from '../io.ts';

/** How long one request may take before the CLI gives up (network exit code); `--timeout` changes it. */
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface HttpContext {
  /** Ctrl-C. */
  signal?: AbortSignal | undefined;
  timeoutMs: number;
}

const NETWORK_WHY: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not resolved',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
};

/**
 * fetch with the CLI's failure rules: Ctrl-C is EXIT_INTERRUPTED, a connection that fails is
 * EXIT_NETWORK naming the origin (never the token or a body), and so is silence: no answer within
 * `timeoutMs`, then no byte of the body for `timeoutMs` (an idle timeout, so a long download or a
 * follow that keeps receiving is never cut). Any HTTP status is returned: callers decide (failure()).
 */
export async function send(url: string, init: RequestInit, context: HttpContext): Promise<Response> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${context.timeoutMs} ms`, 'TimeoutError')), context.timeoutMs);
  };
  const interrupted = () => controller.abort(context.signal?.reason);
  if (context.signal?.aborted) interrupted();
  context.signal?.addEventListener('abort', interrupted, { once: true });
  const settle = () => {
    clearTimeout(timer);
    context.signal?.removeEventListener('abort', interrupted);
  };
  arm();
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: controller.signal, redirect: 'manual' });
  } catch (err) {
    settle();
    throw networkError(err, url, context);
  }
  if (!res.body) {
    settle();
    return res;
  }
  arm();
  const body = res.body.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, stream) {
      arm();
      stream.enqueue(chunk);
    },
    flush: settle,
  }));
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/** A failure while reading a response body (a stream cut, Ctrl-C, the timeout) in the same terms as send(). */
export function networkError(err: unknown, url: string, context: HttpContext): CliError {
  if (context.signal?.aborted) return new CliError(EXIT_INTERRUPTED, 'interrupted');
  const origin = new URL(url).origin;
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return new CliError(EXIT_NETWORK, `${origin} did not answer within ${Math.round(context.timeoutMs / 1000)} s`);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (err as { code?: string }).code;
  const why = (code && NETWORK_WHY[code]) ?? cause?.message ?? (err as Error).message;
  return new CliError(EXIT_NETWORK, `cannot reach ${origin}: ${why}`, { cause: err });
}

/**
 * An error response as the CLI reports it: the API's own words and stable code (vmconsole's
 * `{"error": {"code", "message", "requestId"}}`, a Nova fault `{"itemNotFound": {"code", "message"}}`,
 * Keystone's `{"error": {"code": 401, "title", "message"}}`), the exit code by status.
 */
export async function failure(res: Response, what: string): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let message: string | undefined;
  let code: string | undefined;
  let requestId = res.headers.get('x-request-id') ?? res.headers.get('x-openstack-request-id') ?? undefined;
  try {
    const body = JSON.parse(text) as Record<string, { code?: unknown; message?: unknown; requestId?: unknown; title?: unknown }>;
    const [name, fault] = Object.entries(body)[0] ?? [];
    if (fault && typeof fault.message === 'string') {
      message = fault.message;
      code = typeof fault.code === 'string' ? fault.code : name === 'error' ? (typeof fault.title === 'string' ? fault.title : undefined) : name;
      if (typeof fault.requestId === 'string') requestId = fault.requestId;
    }
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const exit = res.status === 401 || res.status === 403 ? EXIT_AUTH : res.status === 404 ? EXIT_NOT_FOUND : EXIT_API;
  const said = message ?? `HTTP ${res.status} ${res.statusText}`.trim();
  return new CliError(exit, `${what}: ${said}`, { code: code ?? `HTTP${res.status}`, requestId, status: res.status });
}
