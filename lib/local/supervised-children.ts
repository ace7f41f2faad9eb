import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import type { Socket } from 'node:net';

/** How long a child gets to stop on SIGTERM before its whole process group is killed. */
const GRACE_TENTHS = 50;

/**
 * The watchdog: a shell that reads one process group id per line from a pipe only its parent
 * holds. When that pipe closes, because the parent stopped the stack or died in any way
 * (SIGKILL, a crash, SIGHUP), it stops every group: SIGTERM, then SIGKILL after the grace.
 * Linux's PR_SET_PDEATHSIG would do this per child but is out of Node's reach.
 */
const WATCHDOG = `
groups=''
while read -r group; do groups="$groups $group"; done
for group in $groups; do kill -TERM -$group 2>/dev/null; done
tenths=0
while [ $tenths -lt ${GRACE_TENTHS} ]; do
  alive=''
  for group in $groups; do kill -0 -$group 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.1
  tenths=$((tenths + 1))
done
for group in $groups; do kill -KILL -$group 2>/dev/null; done
`;

export interface SupervisedChildren {
  /** Start a child in a process group of its own, logging to `logFile` (appended). */
  spawn(command: string, args: readonly string[], options: { cwd: string; env: Record<string, string>; logFile: string }): ChildProcess;
  /** The process group ids handed to the watchdog so far (one per child). */
  readonly groups: readonly number[];
  /** Stop every child (and what it started) and the watchdog; resolves when all have exited. */
  stop(): Promise<void>;
}

/** Children that die with this process, whether it stops them or dies itself. */
export function superviseChildren(): SupervisedChildren {
  // Its own session: a terminal's SIGHUP or Ctrl-C must not take the watchdog before the children.
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  const watchdogExited = once(watchdog, 'exit');
  // Nothing else keeps this process alive for the watchdog's sake.
  watchdog.unref();
  (watchdog.stdin as Socket).unref();
  // A watchdog killed by someone else must not take the stack down with an EPIPE.
  watchdog.stdin!.on('error', () => {});
  const children: ChildProcess[] = [];
  const groups: number[] = [];
  let stopping: Promise<void> | undefined;
  return {
    groups,
    spawn(command, args, { cwd, env, logFile }) {
      if (stopping) throw new Error('the stack is stopping');
      // A file, not a pipe: a pipe nobody reads would stall the child, and a file survives for debugging.
      const fd = openSync(logFile, 'a');
      let child: ChildProcess;
      try {
        // Own process group (and session), so stopping the child also stops what it started (esbuild, virsh).
        child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', fd, fd] });
      } finally {
        closeSync(fd);
      }
      if (child.pid !== undefined) {
        children.push(child);
        groups.push(child.pid);
        watchdog.stdin!.write(`${child.pid}\n`);
      }
      return child;
    },
    stop() {
      stopping ??= (async () => {
        const exits = children.filter((child) => child.exitCode === null && child.signalCode === null).map((child) => once(child, 'exit'));
        watchdog.stdin!.end();
        await Promise.all([...exits, watchdogExited]);
      })();
      return stopping;
    },
  };
}
