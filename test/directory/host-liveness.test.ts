import { describe, expect, it } from 'vitest';
import { DEAD_HOST_DETECTION_MS, DEFAULT_HEARTBEAT_INTERVAL_MS, HEARTBEAT_GRACE_MS, isHostDown, MAX_HEARTBEAT_INTERVAL_MS } from '../../lib/directory/host-liveness.ts';

describe('host liveness', () => {
  const beat = { heartbeatAt: 1_000_000, heartbeatIntervalMs: 40_000 };

  it('keeps a host up through one interval plus the grace, and calls it down a millisecond later', () => {
    expect(isHostDown(beat, beat.heartbeatAt + 40_000 + HEARTBEAT_GRACE_MS)).toBe(false);
    expect(isHostDown(beat, beat.heartbeatAt + 40_000 + HEARTBEAT_GRACE_MS + 1)).toBe(true);
  });

  it('finds a host that died right after a beat within one minute at the slowest heartbeat the agent allows', () => {
    const slowest = { heartbeatAt: 0, heartbeatIntervalMs: MAX_HEARTBEAT_INTERVAL_MS };
    expect(DEAD_HOST_DETECTION_MS).toBe(60_000);
    expect(isHostDown(slowest, DEAD_HOST_DETECTION_MS + 1)).toBe(true);
    expect(DEFAULT_HEARTBEAT_INTERVAL_MS).toBeLessThanOrEqual(MAX_HEARTBEAT_INTERVAL_MS);
  });

  it('judges each host by its own promised interval', () => {
    const fast = { heartbeatAt: 0, heartbeatIntervalMs: 1_000 };
    expect(isHostDown(fast, 1_000 + HEARTBEAT_GRACE_MS + 1)).toBe(true);
    expect(isHostDown(beat, beat.heartbeatAt + 1_000 + HEARTBEAT_GRACE_MS + 1)).toBe(false);
  });
});
