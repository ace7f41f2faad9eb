import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What Nova would answer for a console log, recomputed here independently of lib/console, so the
 * acceptance suites check the system against the spec rather than against its own code.
 */
export const NOVA_WINDOW_BYTES = 102_400;

/** The last 100 KiB of `console.log` and its rotated predecessors (`.0` newest), whole files only. */
export function consoleWindow(instanceDir: string): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (let i = -1; size < NOVA_WINDOW_BYTES; i++) {
    let content: Buffer;
    try {
      content = readFileSync(join(instanceDir, i < 0 ? 'console.log' : `console.log.${i}`));
    } catch {
      break;
    }
    parts.unshift(content);
    size += content.length;
  }
  const all = Buffer.concat(parts);
  return all.subarray(Math.max(0, all.length - NOVA_WINDOW_BYTES));
}

/**
 * Nova's `b"\n".join(log.split(b"\n")[-n:])` (n = 0 gives nothing), then ASCII decoding with
 * replacement and removal of control characters other than tab and newline.
 */
export function novaConsoleOutput(window: Buffer, length: number | null): string {
  // latin1 maps each byte to one code unit, so splitting on "\n" here splits the bytes.
  let lines = window.toString('latin1').split('\n');
  if (length === 0) lines = [];
  else if (length !== null) lines = lines.slice(-length);
  return lines
    .join('\n')
    .replace(/[\x80-\xff]/g, '\ufffd')
    .replace(/[\x00-\x08\x0b-\x1f]/g, '');
}

/** `openstack console log show` writes the output and a newline when it does not end with one. */
export function openstackPrints(output: string): string {
  return output === '' || output.endsWith('\n') ? output : `${output}\n`;
}

/** `nova console-log` prints the output with Python's print(), which always adds a newline. */
export function novaPrints(output: string): string {
  return `${output}\n`;
}
