import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { isContinuationLine, parseEventLine, type VirshEvent } from './parse-event-line.ts';
import { virshEnv } from './virsh.ts';

export interface WatchEventsOptions {
  uri: string;
  virshPath: string;
  signal: AbortSignal;
  /** Every domain event line, parsed, as soon as virsh prints it (cache invalidation must not wait). */
  onEvent: (event: VirshEvent) => void;
  /**
   * Events may have been missed: virsh exited (libvirtd restarted, connection lost) or printed a
   * line this parser does not know. Called when virsh exits and again once it is following anew.
   */
  onGap: (reason: string) => void;
}

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** What virsh prints when its loop ends; not an event, and not a format change either. */
const LOOP_END = /^events received: \d+$/;

/**
 * Follows `virsh event --all --loop` for as long as `signal` is not aborted. When virsh exits it
 * is started again with a growing delay.
 */
export function watchEvents(options: WatchEventsOptions): void {
  const { signal } = options;
  let restart: NodeJS.Timeout | undefined;
  let backoffMs = FIRST_BACKOFF_MS;

  const follow = (restarted: boolean) => {
    restart = undefined;
    if (signal.aborted) return;
    const child = spawn(options.virshPath, ['-q', '-c', options.uri, 'event', '--all', '--loop'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: virshEnv(),
    });
    const kill = () => child.kill();
    signal.addEventListener('abort', kill, { once: true });
    if (restarted) child.once('spawn', () => options.onGap('virsh event restarted: events may have been missed meanwhile'));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const text = line.trim();
      if (text === '' || LOOP_END.test(text) || isContinuationLine(line) || signal.aborted) return;
      backoffMs = FIRST_BACKOFF_MS;
      const event = parseEventLine(text);
      if (event) options.onEvent(event);
      else options.onGap(`virsh event printed a line vmconsole does not know: ${text.slice(0, 200)}`);
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      signal.removeEventListener('abort', kill);
      if (signal.aborted) return;
      options.onGap('virsh event exited');
      restart = setTimeout(() => follow(true), backoffMs);
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
    };
    // A virsh that cannot start emits 'error' (and maybe no 'close'); one that ran emits 'close'.
    child.on('error', end);
    child.on('close', end);
  };

  signal.addEventListener('abort', () => clearTimeout(restart), { once: true });
  follow(false);
}
