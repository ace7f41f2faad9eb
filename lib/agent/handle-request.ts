import { MAX_CONSOLE_WINDOW, type AgentRequest, type RequestKind, type RequestOf, type ResultOf } from '../contracts/messages.ts';
import { shapeConsoleOutput } from '../console/shape-console-output.ts';
import type { HypervisorDriver } from '../hypervisors/driver.ts';

type KindHandler<K extends RequestKind> = (request: RequestOf<K>, driver: HypervisorDriver) => Promise<ResultOf<K>>;

/** One entry per request kind: the agent's table of contents. */
const HANDLERS: { [K in RequestKind]: KindHandler<K> } = {
  'console.output': async (request, driver) => {
    // Truncation and decoding happen here, on the host, so only the window travels back.
    const raw = await driver.readConsoleLog(request.server, MAX_CONSOLE_WINDOW);
    return { output: shapeConsoleOutput(raw, request.length) };
  },
};

export function createRequestHandler(driver: HypervisorDriver): (request: AgentRequest) => Promise<unknown> {
  return (request) => (HANDLERS[request.kind] as KindHandler<typeof request.kind>)(request, driver);
}
