import { createHash } from 'node:crypto';
import type { Diagnosis } from '../diagnostics/diagnosis.ts';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Which crash a diagnosis is about, so the same crash seen twice (events repeat, storms, an alarm
 * and the agent for one panic) is diagnosed once:
 * - `boot`: the line that started the diagnosed boot (a kernel's `Linux version ...` with its
 *   timestamp, GRUB's banner) hashed, plus where the proving line sits in that boot (lines from
 *   the boot's first line). Line numbers in the window shift as the log grows and rotates; the
 *   offset inside the boot does not. A window that starts mid-boot has no first line: `window`.
 * - `signature`: the category, the rule that proved it and the proving lines' text (kernel
 *   timestamps included, which differ between two boots that crash alike).
 * A healthy diagnosis has no proving line: its signature is the boot's last line, so a later
 * event for a boot that moved on is a new diagnosis, and a repeat for an idle one is not.
 */
export function crashKey(d: Diagnosis): { boot: string; signature: string; key: string } {
  const proving = d.evidence.lines[0];
  const anchor = proving?.line ?? d.boot.lastLine;
  const started = d.boot.startedBy ? sha(d.boot.startedBy.text).slice(0, 16) : 'window';
  const boot = `${started}+${Math.max(0, anchor - d.boot.firstLine)}`;
  const rule = d.findings.find((f) => f.line === proving?.line && f.category === d.category)?.rule ?? d.category;
  const text = d.evidence.lines.map((l) => l.text).join('\n');
  const signature = `${d.category}:${rule}:${sha(text).slice(0, 16)}`;
  return { boot, signature, key: sha(`${boot}\n${signature}`) };
}
