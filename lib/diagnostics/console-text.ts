/**
 * Console text as the rules see it. The input is whatever a serial port carried: raw bytes or the
 * Nova API's string, CRLF from the guest's UART driver, ANSI colour from systemd, NULs and garbage
 * from firmware or a dying guest, UTF-8 mixed with Latin-1. None of that may throw or change line
 * numbers: lines are counted on `\n` only, as an editor or `sed -n Np` counts them.
 */

/** CSI (colours, cursor moves), OSC (titles) and two-byte escapes. Bounded repeats: no backtracking blow-up. */
const ANSI = /\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]|\x1b\][^\x07\x1b\n]{0,256}(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;
/** C0 controls and DEL except tab, LF and CR (CR is handled below, LF numbers lines). */
const CONTROLS = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
const HAS_ESCAPE_OR_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
/** A CR not ending a line: systemd's progress spinner rewriting its line. Becomes a space, keeping offsets. */
const LONE_CR = /\r(?!\n)/g;

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Bytes as UTF-8, invalid sequences as U+FFFD: every rule keyword is ASCII, so nothing matchable is lost. */
export function decodeConsole(input: string | Uint8Array): string {
  return typeof input === 'string' ? input : decoder.decode(input);
}

/** Escapes and control bytes removed, lone CRs made spaces; `\n` and `\r\n` kept where they were. */
export function cleanConsoleText(text: string): string {
  let out = text;
  if (HAS_ESCAPE_OR_CONTROL.test(out)) out = out.replace(ANSI, '').replace(CONTROLS, '');
  if (out.includes('\r')) out = out.replace(LONE_CR, ' ');
  return out;
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
