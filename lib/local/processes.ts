import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  /** Its process group: a stack's children each lead their own. */
  group: number;
  /** Clock ticks after boot at which it started: with the pid, names one process even after pid reuse. */
  startTime: number;
  command: string;
}

const LISTEN = '0A';

/** What /proc says of `pid`, or undefined when it is gone (or hidden from this user). */
export function processInfo(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may itself hold spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return { pid, group: Number(fields[2]), startTime: Number(fields[19]), command: cmdline || stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) };
  } catch {
    return undefined;
  }
}

/** Whether the process that was `pid` at `startTime` still runs. */
export function isRunning(pid: number, startTime: number): boolean {
  return processInfo(pid)?.startTime === startTime;
}

/** The socket inodes listening on TCP `port`, on any address, IPv4 or IPv6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] !== LISTEN) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/**
 * The processes holding a listening socket on TCP `port`, found through /proc (no `ss`, no
 * `lsof`). Empty when nothing listens or the holder is another user's process we cannot see.
 */
export function portListeners(port: number): ProcessInfo[] {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return [];
  const targets = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  const holders: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return targets.has(readlinkSync(`/proc/${entry}/fd/${fd}`));
      } catch {
        return false;
      }
    });
    const info = holds ? processInfo(Number(entry)) : undefined;
    if (info) holders.push(info);
  }
  return holders;
}

/** "pid 123 (node serverless.js offline ...)", for messages that name a process. */
export function describeProcess(info: ProcessInfo): string {
  const command = info.command.length > 160 ? `${info.command.slice(0, 157)}...` : info.command;
  return `pid ${info.pid} (${command})`;
}
