import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { coalesceEvents } from '../../lib/hypervisors/coalesce-events.ts';
import type { DriverEvent } from '../../lib/hypervisors/driver.ts';

const event = (n: number): DriverEvent => ({ type: 'resync', reason: `r${n}`, at: n });

describe('coalesceEvents', () => {
  it('one call per burst, with every event of the burst in order; a later event starts a new burst', async () => {
    const bursts: DriverEvent[][] = [];
    const onEvent = coalesceEvents((events) => bursts.push(events), 50, new AbortController().signal);
    onEvent(event(1));
    onEvent(event(2));
    await sleep(10);
    onEvent(event(3));
    expect(bursts).toEqual([]);
    await sleep(120);
    expect(bursts).toEqual([[event(1), event(2), event(3)]]);
    onEvent(event(4));
    await sleep(120);
    expect(bursts).toEqual([[event(1), event(2), event(3)], [event(4)]]);
  });

  it('nothing is called after abort, not even for a burst already under way', async () => {
    const bursts: DriverEvent[][] = [];
    const abort = new AbortController();
    const onEvent = coalesceEvents((events) => bursts.push(events), 30, abort.signal);
    onEvent(event(1));
    abort.abort();
    onEvent(event(2));
    await sleep(100);
    expect(bursts).toEqual([]);
  });
});
