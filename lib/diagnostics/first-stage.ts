import { cleanConsoleText } from './console-text.ts';
import { RULES } from './rules.ts';

/**
 * The cheap first stage: does this text possibly hold a crash signature? A log follower runs it on
 * every new chunk and runs the full analyser (diagnoseConsole) only when it says yes.
 *
 * It is built from the rules table's keywords, and the analyser tries a rule only on lines holding one
 * of them, so anything the full rules call a problem passes this check: it cannot miss. It can say yes
 * for nothing ("Failed to start" of an ordinary unit, a floppy probe's I/O error): the analyser then
 * says `healthy`. Noise rows (category `healthy`) are left out: a kernel WARNING is no reason to wake up.
 */
export const CRASH_KEYWORDS: readonly string[] = [...new Set(RULES.filter((r) => r.category !== 'healthy').flatMap((r) => r.keywords))];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** One alternation of literals: linear in the text, no backtracking. */
const CRASH_KEYWORD_PATTERN = new RegExp(CRASH_KEYWORDS.map(escape).join('|'));
/** Escape and control bytes that could sit inside a keyword and hide it. */
const NEEDS_CLEANING = /[\x00-\x08\x0b-\x1f\x7f]/;

/**
 * A chunk can end in the middle of a keyword; a scanner that keeps this many characters of the
 * previous chunk sees it whole (FirstStageScanner does).
 */
export const FIRST_STAGE_OVERLAP = Math.max(...CRASH_KEYWORDS.map((k) => k.length)) - 1;

/**
 * True when `chunk` may hold a crash signature. Bytes are read as Latin-1 (one character per byte,
 * no decoding cost; every keyword is ASCII). Stateless: a keyword split across two chunks is seen by
 * FirstStageScanner, not by this.
 */
export function mayContainCrash(chunk: string | Uint8Array): boolean {
  let text = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
  // Same cleaning as the analyser, so "Kernel \x1b[1mpanic" cannot slip through; most chunks skip it.
  if (NEEDS_CLEANING.test(text)) text = cleanConsoleText(text);
  return CRASH_KEYWORD_PATTERN.test(text);
}

/**
 * For a follower reading a growing log: feed each new chunk in order; `scan` answers for the chunk,
 * including a keyword that started in the previous one. Memory: FIRST_STAGE_OVERLAP characters.
 */
export class FirstStageScanner {
  private tail = '';

  scan(chunk: string | Uint8Array): boolean {
    const raw = typeof chunk === 'string' ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    const text = NEEDS_CLEANING.test(raw) ? cleanConsoleText(raw) : raw;
    const joined = this.tail + text;
    const boundary = this.tail.length;
    this.tail = joined.slice(-FIRST_STAGE_OVERLAP);
    // Only a keyword ending in the new text counts: one wholly inside the kept tail was reported last time.
    const global = new RegExp(CRASH_KEYWORD_PATTERN.source, 'g');
    for (let m = global.exec(joined); m !== null; m = global.exec(joined)) {
      if (m.index + m[0].length > boundary) return true;
      global.lastIndex = m.index + 1;
    }
    return false;
  }

  /** After a rotation or truncation the next chunk does not continue the previous one. */
  reset(): void {
    this.tail = '';
  }
}
