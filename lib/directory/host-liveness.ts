import type { HostRecord } from '../contracts/records.ts';

/**
 * When the edge calls a compute host down: the rule is a time, not a count of missed beats, so the
 * heartbeat can be slow (cheap) while a dead host is still found within a minute.
 *
 * A host is down once it has been silent longer than its own heartbeat interval plus a grace that
 * absorbs a slow write (SDK retry, a busy event loop, clock skew between host and edge). A host that
 * dies right after a beat is therefore reported down at most `interval + grace` later; the agent
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

/** True once the host has missed its next beat by more than the grace. */
export function isHostDown(host: Heartbeat, now: number): boolean {
  return silentFor(host, now) > host.heartbeatIntervalMs + HEARTBEAT_GRACE_MS;
}
