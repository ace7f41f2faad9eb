/**
 * The diagnosis: the public contract of crash diagnostics. The CLI prints it, and later the diagnose
 * function stores it, publishes it to SNS (message attributes `category` and `severity`) and the API
 * returns it, so fields are only ever added, never renamed; `v` changes if one has to be.
 */

/** Exactly the category names. `healthy` is also the category of recognised noise. */
export const CATEGORIES = [
  'kernel-panic',
  'oops',
  'soft-lockup',
  'rcu-stall',
  'hung-task',
  'oom',
  'fs-error',
  'emergency-mode',
  'initramfs-timeout',
  'cloud-init-failure',
  'grub-error',
  'windows-bugcheck',
  'healthy',
] as const;
export type Category = (typeof CATEGORIES)[number];

/**
 * Ordered, smallest first (compare with `severityRank`):
 * - `info`: nothing wrong, or only recognised noise (ACPI errors, firmware warnings, floppy probes).
 * - `low`: something the guest lived through and that rarely matters (a kernel WARNING with its trace,
 *   a cgroup OOM kill, a problem followed by a login prompt).
 * - `medium`: the guest runs but something is degraded (an OOM kill, file-system errors, a hung task,
 *   cloud-init did not configure it).
 * - `high`: the guest is stuck or unusable without someone at the console (an oops, a CPU lockup or
 *   RCU stall, an emergency or initramfs shell, a boot loader error).
 * - `critical`: the guest's OS is down (kernel panic, Windows bugcheck, `grub rescue>`).
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const severityRank = (s: Severity): number => SEVERITIES.indexOf(s);

/** One console line, numbered from 1 at the first line of the window (as `sed -n Np` counts). */
export interface EvidenceLine {
  line: number;
  /** The line without ANSI escapes and control bytes, cut at 512 characters. */
  text: string;
}

export interface Evidence {
  /** The lines the rule matched: the first occurrence, and the last one when it repeated. */
  lines: EvidenceLine[];
  /**
   * What explains it: the call trace after a panic, oops, lockup or WARNING (up to its end marker),
   * else the lines around the first match. Empty when there is nothing around it.
   */
  context: { kind: 'call-trace' | 'around'; lines: EvidenceLine[] };
}

/** Every match of a rule in the diagnosed boot; repeats of one rule are folded into one finding. */
export interface Finding {
  /** The rules-table row that matched (stable: dedupe keys and subscriptions may use it). */
  rule: string;
  category: Category;
  /** After the boot-continued adjustment (see `continued`). */
  severity: Severity;
  summary: string;
  /** First and last line the rule matched, and how many lines it matched. */
  line: number;
  lastLine: number;
  count: number;
  /** True when the boot reached a login prompt (or equivalent) after the last match. */
  continued: boolean;
  /** Whether the rule's signature by itself ends the boot (a panic, a rescue shell). */
  terminal: boolean;
  reason?: string;
  code?: string;
  codeName?: string;
  evidence: Evidence;
}

export interface BootInfo {
  /** 1-based: boot 3 of 3 is the newest in the window. */
  index: number;
  count: number;
  /** First and last line of this boot in the window. */
  firstLine: number;
  lastLine: number;
  /** The line that started it (a firmware banner, GRUB, `Linux version ...`), absent when the window starts mid-boot. */
  startedBy?: EvidenceLine;
  /**
   * False when the newest boot is only starting (no finding, no login prompt yet) and the diagnosis
   * is about the boot before it, which crashed: a guest with `panic=10` reboots before anyone reads.
   */
  latest: boolean;
}

export interface Diagnosis {
  v: 1;
  category: Category;
  severity: Severity;
  /** One human sentence. */
  summary: string;
  /** For `kernel-panic`: the text after "Kernel panic - not syncing: "; other categories use it for their detail (device, process, module). */
  reason?: string;
  /** For `windows-bugcheck`: the STOP code as 0x%08X, and its symbolic name. */
  code?: string;
  codeName?: string;
  /** The finding the category comes from; empty lines and context when healthy. */
  evidence: Evidence;
  /** Every finding in the diagnosed boot, in line order, noise included. */
  findings: Finding[];
  boot: BootInfo;
  /** Lines in the window. */
  lines: number;
}
