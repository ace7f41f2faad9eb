/**
 * Console text as the rules see it. The input is whatever a serial port carried: raw bytes or the
 * Nova API's string, CRLF from the guest's UART driver, ANSI colour from systemd, NULs and garbage
 * from firmware or a dying guest, UTF-8 mixed with Latin-1. None of that may throw or change line
 * numbers: lines are counted on `\n` only, as an editor or `sed -n Np` counts them.
 */

import { isUtf8 } from 'node:buffer';

/** Any C0 control but tab and LF, or DEL: the text needs cleaning (most consoles need none). */
const NEEDS_CLEANING = /[\x00-\x08\x0b-\x1f\x7f]/;

/**
 * Bytes as text. Valid UTF-8 is decoded as such; anything else (Latin-1 from firmware, binary
 * garbage, a UTF-8 sequence cut by rotation) as Latin-1: one character per byte, so it costs nothing
 * and cannot fail, and every rule keyword is ASCII, so nothing matchable is lost.
 */
export function decodeConsole(input: string | Uint8Array): string {
  if (typeof input === 'string') return input;
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1');
}

/**
 * Escapes and control bytes removed, lone CRs made spaces; `\n` and `\r\n` kept where they were.
 * One pass by hand rather than regular expressions: on binary garbage (a control byte every few
 * characters) replace() calls cost several milliseconds per 100 KiB, this loop a fraction of one.
 * Escape sequences removed: CSI (`ESC [` parameters, then a final byte: colours, cursor moves),
 * OSC (`ESC ]` ... BEL or `ESC \\`: terminal titles), and two-byte escapes; each bounded in length.
 */
export function cleanConsoleText(text: string): string {
  if (!NEEDS_CLEANING.test(text)) return text;
  const parts: string[] = [];
  let from = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c !== 0x7f) continue;
    if (c === 0x09 || c === 0x0a) continue;
    if (c === 0x0d) {
      if (i + 1 < n && text.charCodeAt(i + 1) === 0x0a) continue;
      parts.push(text.slice(from, i), ' ');
      from = i + 1;
      continue;
    }
    parts.push(text.slice(from, i));
    let end = i + 1;
    if (c === 0x1b && end < n) {
      const next = text.charCodeAt(end);
      if (next === 0x5b) {
        // CSI: parameter and intermediate bytes (0x20-0x3f), then one final byte (0x40-0x7e).
        let j = end + 1;
        const limit = Math.min(n, j + 40);
        while (j < limit && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x3f) j++;
        end = j < n && text.charCodeAt(j) >= 0x40 && text.charCodeAt(j) <= 0x7e ? j + 1 : j;
      } else if (next === 0x5d) {
        // OSC: up to BEL, ESC \\ or a newline, at most 256 characters.
        let j = end + 1;
        const limit = Math.min(n, j + 256);
        while (j < limit && text.charCodeAt(j) !== 0x07 && text.charCodeAt(j) !== 0x1b && text.charCodeAt(j) !== 0x0a) j++;
        end = j < n && text.charCodeAt(j) === 0x07 ? j + 1 : j < n - 1 && text.charCodeAt(j) === 0x1b && text.charCodeAt(j + 1) === 0x5c ? j + 2 : j;
      } else if (next >= 0x40 && next <= 0x5f) {
        end = end + 1;
      }
    }
    from = end;
    i = end - 1;
  }
  parts.push(text.slice(from));
  return parts.join('');
}

export interface ConsoleLines {
  text: string;
  /** Offset of each line's first character; line n (1-based) starts at starts[n - 1]. */
  starts: number[];
}

export function splitConsoleLines(text: string): ConsoleLines {
  const starts = text.length === 0 ? [] : [0];
  for (let i = text.indexOf('\n'); i !== -1 && i + 1 < text.length; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return { text, starts };
}

/** Line `n` (1-based) without its line ending. */
export function lineText(lines: ConsoleLines, n: number): string {
  const start = lines.starts[n - 1];
  if (start === undefined) return '';
  const next = lines.starts[n];
  let end = next === undefined ? lines.text.length : next - 1;
  if (next === undefined && end > start && lines.text.charCodeAt(end - 1) === 10) end--;
  if (end > start && lines.text.charCodeAt(end - 1) === 13) end--;
  return lines.text.slice(start, Math.max(start, end));
}

/** The 1-based line holding offset `offset` (binary search over line starts). */
export function lineOfOffset(lines: ConsoleLines, offset: number): number {
  let lo = 0;
  let hi = lines.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lines.starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/** Evidence text: at most 512 characters, so a 100 KiB line cannot bloat a diagnosis. */
export const EVIDENCE_TEXT_MAX = 512;
export const evidenceText = (line: string): string => (line.length > EVIDENCE_TEXT_MAX ? `${line.slice(0, EVIDENCE_TEXT_MAX - 1)}…` : line);
