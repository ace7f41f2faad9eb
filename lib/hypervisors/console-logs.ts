import type { ConsoleLog, HypervisorDriver, ServerHandle } from './driver.ts';

/**
 * Every console log set of a server by port: the driver's consoleLogs, or port 0 alone for a
 * driver that names only consoleLogSet. Empty when the driver names none.
 */
export async function consoleLogsOf(driver: HypervisorDriver, server: ServerHandle, signal?: AbortSignal): Promise<ConsoleLog[]> {
  if (driver.consoleLogs) return driver.consoleLogs(server, signal);
  const log = await driver.consoleLogSet?.(server, signal);
  return log ? [{ port: 0, name: null, log }] : [];
}
