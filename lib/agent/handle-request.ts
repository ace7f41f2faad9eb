import { MAX_CONSOLE_WINDOW, type AgentRequest, type RequestKind, type RequestOf, type ResultOf } from '../contracts/messages.ts';
import { shapeConsoleOutput } from '../console/shape-console-output.ts';
import { isVmconsoleError, VmconsoleError, type ErrorCode } from '../errors.ts';
import type { HypervisorDriver } from '../hypervisors/driver.ts';
import type { RequestHandler } from '../transport/responder.ts';

type KindHandler<K extends RequestKind> = (request: RequestOf<K>, driver: HypervisorDriver, signal: AbortSignal) => Promise<ResultOf<K>>;

/** One entry per request kind: the agent's table of contents. */
const HANDLERS: { [K in RequestKind]: KindHandler<K> } = {
  'console.output': async (request, driver, signal) => {
    // Truncation and decoding happen here, on the host, so only the window travels back.
    const raw = await driver.readConsoleLog(request.server, MAX_CONSOLE_WINDOW, signal);
    return { output: shapeConsoleOutput(raw, request.length) };
  },
};

/** What a tenant reads when a thrower gave no operator detail (see tenantSafe). */
const TENANT_TEXT: Partial<Record<ErrorCode, string>> = {
  Forbidden: 'The console log of this server is outside what vmconsole may read on its host.',
  ServerNotFound: 'The server is not on its compute host.',
  NoConsole: 'This server has no console log.',
  NotImplemented: 'The compute host of this server cannot do this.',
};

/**
 * The rule every failure leaving the agent follows (lib/errors.ts): `message` is what a tenant may
 * read, `detail` the rest. A thrower that gave `detail` wrote a tenant-safe message; one that did
 * not is not trusted: its message becomes the detail and the caller gets the code's plain text
 * (replies reach automation clients as they are, so this holds for codes the edge hides too).
 * Anything that is not a VmconsoleError is Internal, its text only in the detail.
 */
export function tenantSafe(err: unknown): VmconsoleError {
  if (!isVmconsoleError(err)) {
    return new VmconsoleError('Internal', 'The request failed on the compute host.', { detail: err instanceof Error ? err.message : String(err), cause: err });
  }
  if (err.detail !== undefined) return err;
  return new VmconsoleError(err.code, TENANT_TEXT[err.code] ?? 'The request failed on the compute host.', { detail: err.message, cause: err });
}

/** The agent's request handler: the kind's handler, given the request's deadline as an AbortSignal. */
export function createRequestHandler(driver: HypervisorDriver): RequestHandler {
  return async (request: AgentRequest, { signal }) => {
    try {
      return await (HANDLERS[request.kind] as KindHandler<typeof request.kind>)(request, driver, signal);
    } catch (err) {
      throw tenantSafe(err);
    }
  };
}
