import { MAX_CONSOLE_WINDOW, type AgentRequest, type RequestKind, type RequestOf, type ResultOf } from '../contracts/messages.ts';
import { shapeConsoleOutput } from '../console/shape-console-output.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import type { HypervisorDriver } from '../hypervisors/driver.ts';
import type { Logger } from '../logger.ts';

type KindHandler<K extends RequestKind> = (request: RequestOf<K>, driver: HypervisorDriver) => Promise<ResultOf<K>>;

/** One entry per request kind: the agent's table of contents. */
const HANDLERS: { [K in RequestKind]: KindHandler<K> } = {
  'console.output': async (request, driver) => {
    // Truncation and decoding happen here, on the host, so only the window travels back.
    const raw = await driver.readConsoleLog(request.server, MAX_CONSOLE_WINDOW);
    return { output: shapeConsoleOutput(raw, request.length) };
  },
};

/**
 * Refusals carry host paths (a log outside the roots, a symlink out of them): the operator reads
 * them in the agent's log; the tenant gets the refusal without the host's file layout.
 */
export function createRequestHandler(driver: HypervisorDriver, logger?: Logger): (request: AgentRequest) => Promise<unknown> {
  return async (request) => {
    try {
      return await (HANDLERS[request.kind] as KindHandler<typeof request.kind>)(request, driver);
    } catch (err) {
      if (isVmconsoleError(err) && err.code === 'Forbidden') {
        logger?.warn('refused to read a console log', { serverId: request.server.id, reason: err.message });
        throw new VmconsoleError('Forbidden', 'The console log of this server is outside what vmconsole may read on its host.');
      }
      throw err;
    }
  };
}
