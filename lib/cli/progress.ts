import { isTty } from './io.ts';

/** What a long download reports as it goes. */
export interface Progress {
  /** `bytes` more arrived. */
  advance(bytes: number): void;
  /** The total is known now (or changed: a follow that found more). */
  setTotal(total: number | undefined): void;
  /** Clears the line; call it before printing anything else on stderr, and at the end (also on failure). */
  done(): void;
}

export interface ProgressOptions {
  /** What is downloading: "console of web-1". */
  label: string;
  /** Bytes expected, when known (a Content-Length, a history's size): shows a percentage. */
  total?: number | undefined;
  /** --json: machine output, never a progress line. */
  json?: boolean | undefined;
  /** Redraws at most this often (default 100 ms): a fast stream must not flood the terminal. */
  intervalMs?: number;
  now?: () => number;
}

const NONE: Progress = { advance() {}, setTotal() {}, done() {} };

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/**
 * A one-line progress indicator for long downloads (`vmconsole logs --since 0` of a large history,
 * a screenshot): "label  1.2 MiB / 4.0 MiB  30%  850 KiB/s", redrawn in place on stderr. Only on a
 * terminal and never with --json: a pipe, a file or a script gets nothing (no-op), so stdout and
 * stderr stay clean for them. The line is drawn at the first bytes, then at most every `intervalMs`;
 * done() erases it, so what follows on stderr starts on a clean line.
 */
export function startProgress(stderr: NodeJS.WritableStream, options: ProgressOptions): Progress {
  if (options.json || !isTty(stderr)) return NONE;
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? 100;
  const started = now();
  let total = options.total;
  let received = 0;
  let lastDraw = started;
  let drawn = false;
  let finished = false;
  const draw = () => {
    const seconds = Math.max((now() - started) / 1000, 0.001);
    const parts = [options.label, total !== undefined ? `${formatBytes(received)} / ${formatBytes(total)}` : formatBytes(received)];
    if (total !== undefined && total > 0) parts.push(`${Math.min(100, Math.floor((received / total) * 100))}%`);
    parts.push(`${formatBytes(Math.round(received / seconds))}/s`);
    // \r and erase-to-end-of-line: the line is redrawn in place, never scrolls.
    stderr.write(`\r${parts.join('  ')}\x1b[K`);
    drawn = true;
    lastDraw = now();
  };
  return {
    advance(bytes) {
      if (finished) return;
      received += bytes;
      if (!drawn || now() - lastDraw >= interval) draw();
    },
    setTotal(next) {
      total = next;
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) stderr.write('\r\x1b[K');
    },
  };
}
