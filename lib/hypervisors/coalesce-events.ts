import type { DriverEvent } from './driver.ts';

/**
 * One call per burst of driver events, `quietMs` after the first event of the burst, with every
 * event of the burst: a domain start reports several, and an inventory resync per event would
 * list the host several times for one change. Nothing is called once `signal` aborts.
 */
export function coalesceEvents(onBurst: (events: DriverEvent[]) => void, quietMs: number, signal: AbortSignal): (event: DriverEvent) => void {
  let burst: DriverEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return (event) => {
    if (signal.aborted) return;
    burst.push(event);
    timer ??= setTimeout(() => {
      const events = burst;
      burst = [];
      timer = undefined;
      if (!signal.aborted) onBurst(events);
    }, quietMs);
  };
}
