import { vi } from 'vitest';

export type JsonLine = Record<string, any>;

/**
 * The JSON lines this process writes to stdout from now on (Powertools' logger and metrics write
 * there: EMF lines are what CloudWatch reads). The output still reaches stdout; restore with
 * `vi.restoreAllMocks()`.
 */
export function captureStdout(): { lines: () => JsonLine[] } {
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written.push(String(chunk));
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);
  return { lines: () => written.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonLine) };
}
