import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { virshEnv } from './virsh.ts';

export interface WatchEventsOptions {
  uri: string;
  virshPath: string;
  signal: AbortSignal;
  /** Called at once for every event line (cache invalidation must not wait). */
  onEvent: () => void;
  /** Called once per burst of events: a domain start emits several. */
  onChange: () => void;
  coalesceMs?: number;
}

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

/**
 * Follows `virsh event --all --loop` for as long as `signal` is not aborted. When virsh exits
 * (libvirtd restarted, connection lost) it is started again with a growing delay, and a change is
 * reported, since events may have been missed meanwhile.
 */
export function watchEvents(options: WatchEventsOptions): void {
  const { signal } = options;
  let burst: NodeJS.Timeout | undefined;
  let restart: NodeJS.Timeout | undefined;
  let backoffMs = FIRST_BACKOFF_MS;

  const changed = () => {
    options.onEvent();
    burst ??= setTimeout(() => {
      burst = undefined;
      if (!signal.aborted) options.onChange();
    }, options.coalesceMs ?? 150);
  };

  const follow = () => {
    restart = undefined;
    if (signal.aborted) return;
    const child = spawn(options.virshPath, ['-q', '-c', options.uri, 'event', '--all', '--loop'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: virshEnv(),
    });
    const kill = () => child.kill();
    signal.addEventListener('abort', kill, { once: true });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.trim() === '') return;
      backoffMs = FIRST_BACKOFF_MS;
      changed();
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      signal.removeEventListener('abort', kill);
      if (signal.aborted) return;
      changed();
      restart = setTimeout(follow, backoffMs);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    };
    // A virsh that cannot start emits 'error' (and maybe no 'close'); one that ran emits 'close'.
    child.on('error', end);
    child.on('close', end);
  };

  signal.addEventListener(
    'abort',
    () => {
      clearTimeout(burst);
      clearTimeout(restart);
    },
    { once: true },
  );
  follow();
}
