/**
 * Where a domain's console output can be read. `file` covers a file console and any virtlogd
 * log; `pty` is a pty without a log, which Nova drains into the instance's console.log (a pty
 * of a stopped domain has no path: only the drained file is left).
 */
export type ConsoleLocation =
  | { kind: 'file'; path: string }
  | { kind: 'pty'; ptyPath: string | undefined }
  | { kind: 'none' };

/** One `<console>` element, reduced to the attributes that decide where its output goes. */
export interface ConsoleDevice {
  type: string | undefined;
  sourcePath: string | undefined;
  logFile: string | undefined;
}

/**
 * Nova's search order over ./devices/console: a file console, then a tcp console's log, then a
 * pty. With virtlogd a pty carries `<log file=...>` (live and inactive XML alike): that file is
 * the whole output, so it beats draining the pty.
 */
export function consoleLocation(consoles: readonly ConsoleDevice[]): ConsoleLocation {
  const ofType = (type: string) => consoles.filter((c) => c.type === type);
  for (const c of ofType('file')) if (c.sourcePath) return { kind: 'file', path: c.sourcePath };
  for (const c of ofType('tcp')) if (c.logFile) return { kind: 'file', path: c.logFile };
  const pty = ofType('pty')[0];
  if (pty) return pty.logFile ? { kind: 'file', path: pty.logFile } : { kind: 'pty', ptyPath: pty.sourcePath };
  return { kind: 'none' };
}
