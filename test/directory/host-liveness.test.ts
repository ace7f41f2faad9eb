import { describe, expect, it } from 'vitest';
import { DEAD_HOST_DETECTION_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, downAfterMs, HEARTBEAT_GRACE_MS, isHostDown, MAX_HEARTBEAT_INTERVAL_MS } from '../../lib/directory/host-liveness.ts';

describe('host liveness', () => {
  const beat = { heartbeatAt: 1_000_000, heartbeatIntervalMs: 40_000 };

  it('keeps a 40 s host up through one interval plus the 20 s grace, and calls it down a millisecond later', () => {
    expect(isHostDown(beat, beat.heartbeatAt + 40_000 + HEARTBEAT_GRACE_MS)).toBe(false);
    expect(isHostDown(beat, beat.heartbeatAt + 40_000 + HEARTBEAT_GRACE_MS + 1)).toBe(true);
  });

  it('finds a host that died right after a beat within one minute at the slowest heartbeat the agent allows', () => {
    expect(DEAD_HOST_DETECTION_MS).toBe(60_000);
    expect(downAfterMs({ heartbeatIntervalMs: MAX_HEARTBEAT_INTERVAL_MS })).toBe(DEAD_HOST_DETECTION_MS);
    expect(isHostDown({ heartbeatAt: 0, heartbeatIntervalMs: MAX_HEARTBEAT_INTERVAL_MS }, DEAD_HOST_DETECTION_MS + 1)).toBe(true);
    expect(DEFAULT_HEARTBEAT_INTERVAL_MS).toBeLessThanOrEqual(MAX_HEARTBEAT_INTERVAL_MS);
  });

  it('keeps three missed beats for fast heartbeats, judging each host by its own interval', () => {
    expect(downAfterMs({ heartbeatIntervalMs: 400 })).toBe(1_200);
    expect(downAfterMs({ heartbeatIntervalMs: 10_000 })).toBe(30_000);
    const fast = { heartbeatAt: 0, heartbeatIntervalMs: 1_000 };
    expect(isHostDown(fast, 3_000)).toBe(false);
    expect(isHostDown(fast, 3_001)).toBe(true);
    expect(isHostDown(beat, beat.heartbeatAt + 3_001)).toBe(false);
  });
});
