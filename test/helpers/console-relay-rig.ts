import { afterAll, beforeAll } from 'vitest';
import { startConsoleRelayRig, type ConsoleRelayRig } from './console-relay-stack.ts';

export { CONSOLE_HOST, type ConsoleRelayRig } from './console-relay-stack.ts';

/** startConsoleRelayRig for a suite: started in beforeAll, stopped in afterAll; read its fields inside hooks and tests. */
export function useConsoleRelayRig(options: Parameters<typeof startConsoleRelayRig>[0] = {}): ConsoleRelayRig {
  const rig = {} as ConsoleRelayRig;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const started = await startConsoleRelayRig(options);
    stop = started.stop;
    Object.assign(rig, started);
  }, 60_000);
  afterAll(async () => {
    await stop?.();
  });
  return rig;
}
