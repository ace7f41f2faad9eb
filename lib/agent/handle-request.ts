import { MAX_CONSOLE_WINDOW, type AgentRequest, type RequestKind, type RequestOf, type ResultOf } from '../contracts/messages.ts';
import { shapeConsoleOutput } from '../console/shape-console-output.ts';
import { tenantSafe } from '../errors.ts';
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
