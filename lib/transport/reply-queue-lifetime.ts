/**
 * How reply queues live and die: a requester tags its queue with a heartbeat while it serves
 * requests; the scheduled sweeper deletes queues whose heartbeat is older than IDLE_AFTER_MS
 * (their execution environment is gone, or at least asleep).
 */
export const HEARTBEAT_TAG = 'vmconsole:heartbeat';
/** A busy requester refreshes its tag at most this often (one TagQueue a minute, off the request path). */
export const HEARTBEAT_EVERY_MS = 60_000;
export const IDLE_AFTER_MS = 15 * 60_000;
/**
 * A requester idle for this long checks, before sending, that the sweeper has not taken its queue:
 * well inside IDLE_AFTER_MS, so a warm environment woken after a quiet spell answers instead of
 * failing its first request.
 */
export const REVALIDATE_AFTER_MS = 5 * 60_000;
