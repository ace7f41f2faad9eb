import type { Logger } from '../../lib/logger.ts';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown>;
}

/** A Logger that keeps what it is told, so tests can assert that something was logged. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (message: unknown, ...extra: unknown[]) => {
    entries.push({ level, message: String(message), data: (extra[0] ?? {}) as Record<string, unknown> });
  };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
