/**
 * Splitting a console window into boots. A log holds several (virtlogd appends across reboots, a
 * guest with `panic=10` reboots by itself), and a diagnosis is about one of them.
 *
 * A boot prints banners in stage order: firmware (SeaBIOS, OVMF's BdsDxe, iPXE), then the boot loader
 * (GRUB), then the kernel (`Linux version ...`). A banner starts a new boot when it belongs to an
 * earlier stage than one already seen in the current boot (SeaBIOS after a kernel), or when it is a
 * second kernel banner (a direct-kernel guest rebooting, a kdump capture kernel). A window cut by
 * rotation starts mid-boot: its first boot has no banner.
 */

export type BootStage = 0 | 1 | 2;

/** Literal keywords (the analyser's one pass finds them) and the stage each announces. */
export const BOOT_MARKERS: readonly { keyword: string; stage: BootStage; pattern?: RegExp }[] = [
  { keyword: 'SeaBIOS (version', stage: 0 },
  { keyword: 'BdsDxe: ', stage: 0 },
  { keyword: 'iPXE (', stage: 0 },
  { keyword: 'Booting from ', stage: 0 },
  { keyword: 'Welcome to GRUB!', stage: 1 },
  { keyword: 'GNU GRUB  version', stage: 1 },
  { keyword: 'Loading Linux ', stage: 1 },
  // The kernel's own EFI loader ("EFI stub: Booting Linux Kernel...", "EFI stub: Loaded initrd ...") prints
  // before "Linux version" when firmware starts the kernel without GRUB: the boot loader stage.
  { keyword: 'EFI stub: ', stage: 1 },
  { keyword: 'Linux version ', stage: 2, pattern: /Linux version \d{1,2}\.\d/ },
];

export interface BootMarkerHit {
  line: number;
  stage: BootStage;
}

export interface BootRange {
  /** 1-based. */
  index: number;
  firstLine: number;
  lastLine: number;
  /** The banner line that started it; absent for a window starting mid-boot. */
  startLine?: number;
}

/** The stage a line announces, if it is a banner. */
export function bootMarkerStage(line: string): BootStage | undefined {
  let stage: BootStage | undefined;
  for (const m of BOOT_MARKERS) {
    if (!line.includes(m.keyword)) continue;
    if (m.pattern && !m.pattern.test(line)) continue;
    stage = stage === undefined ? m.stage : (Math.max(stage, m.stage) as BootStage);
  }
  return stage;
}

/** Boots from banner lines (in line order) over a window of `lineCount` lines. */
export function splitBoots(markers: readonly BootMarkerHit[], lineCount: number): BootRange[] {
  const boots: BootRange[] = [];
  let current: BootRange | undefined;
  let highest = -1;
  for (const m of markers) {
    const startsNew = current === undefined ? true : m.stage < highest || (m.stage === 2 && highest === 2);
    if (startsNew) {
      if (current) current.lastLine = m.line - 1;
      else if (m.line > 1) boots.push({ index: 1, firstLine: 1, lastLine: m.line - 1 });
      current = { index: boots.length + 1, firstLine: m.line, lastLine: lineCount, startLine: m.line };
      boots.push(current);
      highest = m.stage;
    } else {
      highest = Math.max(highest, m.stage);
    }
  }
  if (boots.length === 0) boots.push({ index: 1, firstLine: 1, lastLine: lineCount });
  // The leading mid-boot part was pushed before the first banner's boot: renumber in line order.
  boots.forEach((b, i) => (b.index = i + 1));
  return boots;
}
