import type { HostRecord } from '../contracts/records.ts';

/**
 * When the edge calls a compute host down: the rule is a time, not a count of missed beats, so the
 * heartbeat can be slow (cheap) while a dead host is still found within a minute.
 *
 * A host is down once it has been silent longer than its own heartbeat interval plus a grace that
 * absorbs a slow or lost write (SDK retry, a busy event loop, clock skew between host and edge):
 * two intervals, at most HEARTBEAT_GRACE_MS. Fast beats (10 s and below) keep the old "three missed
 * beats"; slow ones are reported down at most `interval + 20 s` after their last beat, and the agent
 * refuses intervals above MAX_HEARTBEAT_INTERVAL_MS so that bound stays at one minute.
 *
 * Cost: each beat is one DynamoDB write. At the default 40 s a host writes ~64,800 times a month
 * ($0.04 on demand) where the former 10 s beat wrote 259,200 ($0.16); see bench/idle-cost.ts.
 */
export const HEARTBEAT_GRACE_MS = 20_000;
/** The slowest detection we accept for a dead host. */
export const DEAD_HOST_DETECTION_MS = 60_000;
export const MAX_HEARTBEAT_INTERVAL_MS = DEAD_HOST_DETECTION_MS - HEARTBEAT_GRACE_MS;
export const DEFAULT_HEARTBEAT_INTERVAL_MS = MAX_HEARTBEAT_INTERVAL_MS;

export type Heartbeat = Pick<HostRecord, 'heartbeatAt' | 'heartbeatIntervalMs'>;

/** How long the host has been silent at `now` (ms). */
export function silentFor(host: Heartbeat, now: number): number {
  return now - host.heartbeatAt;
}

/** How long a host may stay silent before the edge calls it down. */
export function downAfterMs(host: Pick<HostRecord, 'heartbeatIntervalMs'>): number {
  return host.heartbeatIntervalMs + Math.min(2 * host.heartbeatIntervalMs, HEARTBEAT_GRACE_MS);
}

/** True once the host has missed its next beat by more than the grace. */
export function isHostDown(host: Heartbeat, now: number): boolean {
  return silentFor(host, now) > downAfterMs(host);
}
