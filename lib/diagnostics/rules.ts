import type { Category, Severity } from './diagnosis.ts';

/**
 * THE rules table: one row per console signature. To support a new message, add a row (and a fixture
 * with real text under test/fixtures/diagnostics/ with its source).
 *
 * How a row is applied (lib/diagnostics/diagnose-console.ts):
 * - `keywords`: literal substrings; the row is only tried on a line holding one of them. Together they
 *   are the first stage (lib/diagnostics/first-stage.ts), so a row without keywords cannot exist and
 *   the follower's cheap check can never miss what a row would match.
 * - `pattern`: tried on at most 300 characters before and 1,024 after the keyword (a kernel line is at
 *   most 1,024), so a 100 KiB line costs no more than a short one. Patterns are written against
 *   untrusted text: no nested quantifiers, only bounded repeats. Named groups feed `reason`, `code`
 *   and the summary: `reason`, `code`, `name`, `device`, `process`, `task`, `seconds`, `cpu`, `module`, `file`.
 * - `unless`: the same line is noise when this matches too (a floppy drive's I/O error).
 * - `severity`: when nothing followed; one step lower (not below `low`) when the boot reached a login
 *   prompt after the last match, unless `survivesLogin` (cloud-init failing stays a failure at login).
 * - `terminal`: the signature ends the boot by itself (a panic, a rescue shell). The diagnosis takes
 *   the terminal finding with the highest `precedence` (then the latest); without one, the finding
 *   with the highest severity (then the latest). Noise rows (category `healthy`) never win over a problem.
 * - `supersededBy`: the row only counts when the named row found nothing in the same boot.
 * - `evidence`: `call-trace` captures the lines after the match up to the kernel's end marker (or 60
 *   lines); `around` captures 3 lines before and 6 after.
 */
export interface Rule {
  id: string;
  category: Category;
  keywords: readonly string[];
  pattern: RegExp;
  unless?: RegExp;
  severity: Severity;
  terminal: boolean;
  precedence: number;
  survivesLogin?: boolean;
  /** This row's finding is dropped when the same boot has a finding of that row (a panic's end marker beside the panic). */
  supersededBy?: string;
  evidence: 'call-trace' | 'around';
  /** One sentence; `{group}` is replaced by the pattern's named group (groups `device2`, `device3` fill `device`), `{group|fallback}` gives the text used when it did not match. */
  summary: string;
}

/** Block devices whose I/O errors are probes, not failures: floppy (QEMU's default machine has one), CD-ROM, loop. */
const PROBED_DEVICES = /(?:, dev |on dev(?:ice)? )(?:fd|sr|loop)\d/;

export const RULES: readonly Rule[] = [
  // ---- the kernel stopped --------------------------------------------------------------------
  {
    id: 'kernel-panic',
    category: 'kernel-panic',
    keywords: ['Kernel panic'],
    // 2.6 to 6.x print "Kernel panic - not syncing: <reason>"; the closing "---[ end Kernel panic ..."
    // repeats it and is not a second panic.
    // "Kernel panic: <reason>" is 2.4's form; "Kernel panic" alone (a monitor's name, a sysctl) is not a panic.
    pattern: /Kernel panic(?: - not syncing:? ?|: )(?<reason>[^\r\n]{0,300})/,
    unless: /---\[ end Kernel panic/,
    severity: 'critical', terminal: true, precedence: 100, evidence: 'call-trace',
    summary: 'The kernel panicked: {reason|no reason printed}.',
  },
  {
    id: 'kernel-panic-end',
    category: 'kernel-panic',
    keywords: ['---[ end Kernel panic'],
    // The panic's closing line alone proves the panic when rotation cut off the line that opened it.
    pattern: /---\[ end Kernel panic - not syncing:? ?(?<reason>[^\r\n]{0,300})/,
    supersededBy: 'kernel-panic',
    severity: 'critical', terminal: true, precedence: 100, evidence: 'around',
    summary: 'The kernel panicked: {reason|no reason printed}.',
  },
  {
    id: 'windows-bugcheck-stop',
    category: 'windows-bugcheck',
    keywords: ['STOP: ', 'STOP 0x', 'Stop code: ', 'Fatal System Error: ', '"STOPCODE"', 'for this error: ', 'Your PC ran into a problem', 'Your PC needs to restart', 'Windows has been shut down to prevent damage', 'CLASSNAME="BLUESCREEN"'],
    // XP/2003 and EMS: "*** STOP: 0x0000007B (0xF78D2524,...)"; KB articles and NT4: "STOP 0x0000007B";
    // kernel debugger on the serial port: "*** Fatal System Error: 0x0000007b"; Windows 8+: "Stop code: 0xc000021a"
    // or "Stop code: CRITICAL_PROCESS_DIED"; EMS XML: <PROPERTY NAME="STOPCODE" ...><VALUE>"0x7B"</VALUE>.
    // Windows 8/8.1: "If you'd like to know more, you can search online later for this error: CRITICAL_PROCESS_DIED".
    // A bare code needs its 0x or all 8 digits, so "STOP: 0 jobs" is not a bugcheck.
    pattern: /(?:STOP: |STOP (?=0x)|Fatal System Error: |"STOPCODE"[^>\r\n]{0,40}><VALUE>"?)(?:0x(?<code>[0-9A-Fa-f]{1,8})|(?<code2>[0-9A-Fa-f]{8}))\b|Stop code: (?:0x(?<code3>[0-9A-Fa-f]{1,8})\b|(?<name>[A-Z][A-Z0-9_]{3,80}))|search online (?:later )?for this error: (?<name2>[A-Z][A-Z0-9_]{3,80})|Your PC ran into a problem|Your PC needs to restart|Windows has been shut down to prevent damage|CLASSNAME="BLUESCREEN"/,
    // The blue screen's opening sentence (or EMS's <INSTANCE CLASSNAME="BLUESCREEN">) comes first; the code on a
    // later line of the same finding fills `code`.
    severity: 'critical', terminal: true, precedence: 100, evidence: 'around',
    summary: 'Windows stopped with bugcheck {bugcheck}.',
  },
  {
    id: 'windows-bugcheck-after-reboot',
    category: 'windows-bugcheck',
    keywords: ['rebooted from a bugcheck'],
    // Event 1001 as EC2Launch/EMS echo it after Windows came back: the crash happened, the guest is up.
    pattern: /rebooted from a bugcheck\. {1,2}The bugcheck was: (?:0x)?(?<code>[0-9A-Fa-f]{1,8})/,
    severity: 'medium', terminal: false, precedence: 50, evidence: 'around',
    summary: 'Windows rebooted after bugcheck {bugcheck}.',
  },
  {
    id: 'windows-boot-manager',
    category: 'grub-error',
    keywords: ['Windows failed to start', 'Windows Boot Manager'],
    // bootmgr, not a bugcheck: the boot loader could not load Windows ("Status: 0xc000000e",
    // "File: \\Windows\\system32\\winload.exe"). The category for a boot loader that stopped is grub-error.
    pattern: /Windows failed to start\.|Windows Boot Manager has experienced a problem/,
    severity: 'critical', terminal: true, precedence: 85, evidence: 'around',
    summary: 'Windows Boot Manager could not start Windows.',
  },
  {
    id: 'grub-rescue',
    category: 'grub-error',
    keywords: ['grub rescue>', 'Entering rescue mode', 'entering rescue mode'],
    pattern: /grub rescue>|[Ee]ntering rescue mode/,
    severity: 'critical', terminal: true, precedence: 90, evidence: 'around',
    summary: 'GRUB could not load its modules or configuration and stopped at the grub rescue> prompt.',
  },
  {
    id: 'grub-file-not-found',
    category: 'grub-error',
    keywords: ["' not found", 'load the kernel first'],
    // GRUB 2 quotes with '...' (2.02+) or `...' (older): "error: file '/boot/vmlinuz-5.4.0' not found.";
    // some builds put the source location first: "error: ../../grub-core/fs/fshelp.c:257:file `/vmlinuz' not found."
    pattern: /error: (?:\.\.\/[\w/.-]{1,80}:\d{1,6}: ?)?(?:file [`'](?<file>[^'`\r\n]{1,200})' not found|disk [`'](?<device>[^'`\r\n]{1,100})' not found|you need to load the kernel first)/,
    // A missing translation or font is harmless ("error: file `/boot/grub/locale/en.mo.gz' not found").
    unless: /locale\/|\.g?mo(?:\.gz)?'|\.pf2'/,
    severity: 'high', terminal: true, precedence: 85, evidence: 'around',
    summary: 'GRUB could not load {file|the kernel}.',
  },
  {
    id: 'grub-no-device',
    category: 'grub-error',
    keywords: ['no such partition', 'no such device', 'nknown filesystem', 'outside of disk', 'Minimal BASH-like line editing', 'error: symbol', 'error: invalid arch', 'invalid magic number', 'command `', "command '", 'secure boot policy', 'bad shim signature'],
    // "error: symbol `grub_calloc' not found" and "invalid arch-independent ELF magic": core.img and
    // modules from different GRUB versions after a half-done upgrade.
    // "error: unknown command `linuxefi'" / "can't find command": a config for another GRUB build;
    // "invalid magic number", "bad shim signature", "prohibited by secure boot policy": the kernel it will not load.
    pattern: /error: (?:\.\.\/[\w/.-]{1,80}:\d{1,6}: ?)?(?:no such (?:partition|device)(?:: (?<device>[^\s]{1,100}))?|[Uu]nknown filesystem|attempt to read or write outside of disk|symbol [`'](?<file>[^'`\r\n]{1,80})' not found|invalid arch-independent ELF magic|invalid magic number|(?:unknown|can't find) command [`'](?<file2>[^'`\r\n]{1,40})'|bad shim signature|prohibited by secure boot policy)|Minimal BASH-like line editing is supported/,
    severity: 'high', terminal: true, precedence: 85, evidence: 'around',
    summary: 'GRUB could not find its boot partition, file system or configuration.',
  },
  {
    id: 'grub-legacy-error',
    category: 'grub-error',
    keywords: ['File not found', 'No such partition', 'Cannot mount selected partition', 'Selected partition does not exist', 'Selected disk does not exist', 'Unknown boot failure'],
    // GRUB legacy (CentOS 5/6 era): "Error 15: File not found".
    pattern: /Error (?<code>\d{1,2}): (?<reason>File not found|No such partition|Cannot mount selected partition|Selected partition does not exist|Selected disk does not exist|Unknown boot failure)/,
    severity: 'high', terminal: true, precedence: 85, evidence: 'around',
    summary: 'GRUB legacy failed: Error {code}: {reason}.',
  },
  {
    id: 'no-bootable-device',
    category: 'grub-error',
    keywords: ['No bootable device', 'No boot device', 'No bootable option or device', 'UEFI Interactive Shell'],
    // SeaBIOS ("No bootable device.  Retrying in 60 seconds."), OVMF ("BdsDxe: No bootable option or device was
    // found.", or its UEFI shell): every device was tried.
    pattern: /No bootable (?:option or )?device|No boot device|UEFI Interactive Shell v/,
    severity: 'critical', terminal: true, precedence: 80, evidence: 'around',
    summary: 'The firmware found no boot loader on any disk.',
  },
  {
    id: 'mbr-boot-failure',
    category: 'grub-error',
    keywords: ['BOOTMGR is missing', 'NTLDR is missing', 'BOOTMGR is compressed', 'Missing operating system', 'Operating System not found', 'Error loading operating system', 'Invalid partition table', 'DISK BOOT FAILURE'],
    // The MBR or partition boot sector found no loader: Windows' "BOOTMGR is missing", old BIOS and MBR messages.
    pattern: /(?<reason>BOOTMGR is missing|NTLDR is missing|BOOTMGR is compressed|Missing operating system|Operating System not found|Error loading operating system|Invalid partition table|DISK BOOT FAILURE)/,
    severity: 'critical', terminal: true, precedence: 85, evidence: 'around',
    summary: 'The boot sector found no boot loader: {reason}.',
  },
  {
    id: 'boot-device-failed',
    category: 'grub-error',
    keywords: ['not a bootable disk', 'could not read the boot disk', 'Could not read from CDROM'],
    // SeaBIOS on one device ("Boot failed: not a bootable disk"): it tries the next one, so this is the
    // answer only when no boot loader or kernel follows (see diagnose-console.ts).
    pattern: /Boot failed: (?<reason>not a bootable disk|could not read the boot disk|Could not read from CDROM[^\r\n]{0,20})/,
    severity: 'high', terminal: true, precedence: 75, evidence: 'around',
    summary: 'The firmware could not boot from a disk: {reason}.',
  },

  // ---- the kernel survived, something is badly wrong ------------------------------------------
  {
    id: 'oops',
    category: 'oops',
    keywords: ['BUG: unable to handle', 'BUG: kernel NULL pointer', 'BUG: Kernel NULL pointer', 'Unable to handle kernel', 'Oops', 'general protection fault', 'kernel BUG at', 'invalid opcode: ', 'BUG: KASAN', 'BUG: scheduling while atomic', 'BUG: Bad page', 'divide error: ', 'stack segment: ', 'double fault: ', 'segment not present: '],
    // x86 2.6-4.x: "BUG: unable to handle kernel NULL pointer dereference at (null)" / "... paging request at";
    // x86 5.x+: "BUG: kernel NULL pointer dereference, address: ..." / "BUG: unable to handle page fault for address";
    // arm, arm64, powerpc: "Unable to handle kernel paging request at virtual address", "... execute from
    // non-executable memory at", "BUG: Kernel NULL pointer dereference on write at"; the oops line itself:
    // "Oops: 0000 [#1] SMP", "Internal error: Oops: 817 [#1] ARM", "Oops: Kernel access of bad area, sig: 11 [#1]",
    // "Oops - bad mode: 0 [#4]", "Oops[#1]:" (MIPS), 2.6.18 x86_64's "Oops: 0000 [1] SMP".
    pattern: /BUG: (?<reason>unable to handle (?:kernel )?(?:NULL pointer dereference|paging request|page fault)|[Kk]ernel NULL pointer dereference|KASAN: [\w-]{1,40}|scheduling while atomic|Bad page (?:state|map))|Unable to handle kernel (?<reason2>[a-zA-Z -]{1,60})(?= at | for )|Internal error: Oops|\bOops(?:\[#\d{1,3}\]|: [^\[\r\n]{1,80}\[#?\d{1,3}\]| - [^\[\r\n]{1,60}\[#\d{1,3}\])|general protection fault(?::|,)|kernel BUG at (?<file>[^\s!]{1,200})|(?:invalid opcode|divide error|stack segment|double fault|segment not present): [0-9a-f]{4} \[#/,
    severity: 'high', terminal: false, precedence: 60, evidence: 'call-trace',
    summary: 'The kernel oopsed ({reason|kernel BUG}); the task was killed and the kernel is tainted.',
  },
  {
    id: 'workqueue-lockup',
    category: 'soft-lockup',
    keywords: ['workqueue lockup'],
    // "BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 40s!" (4.5+): kernel work is stuck.
    pattern: /BUG: workqueue lockup - pool[^\r\n]{0,80}stuck for (?<seconds>\d{1,7})s!/,
    severity: 'high', terminal: false, precedence: 55, evidence: 'call-trace',
    summary: 'Kernel work queues made no progress for {seconds} s (workqueue lockup).',
  },
  {
    id: 'hard-lockup',
    category: 'rcu-stall',
    keywords: ['hard LOCKUP', 'hard lockup', 'Hard LOCKUP'],
    pattern: /(?:detected|BUG:) hard (?:LOCKUP|lockup)(?: on cpu (?<cpu>\d{1,5}))?|Watchdog CPU:\s?(?<cpu2>\d{1,5}) Hard LOCKUP/,
    severity: 'high', terminal: false, precedence: 60, evidence: 'call-trace',
    summary: 'CPU {cpu|unknown} hard-locked with interrupts off (hard lockup).',
  },
  {
    id: 'soft-lockup',
    category: 'soft-lockup',
    keywords: ['soft lockup'],
    // "watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [comm:pid]" (4.x+), "BUG: soft lockup - CPU#10 stuck for 23s!" (2.6/3.x), "NMI watchdog: ..." (4.4-4.14).
    pattern: /BUG: soft lockup - CPU#(?<cpu>\d{1,5}) stuck for (?<seconds>\d{1,7})s!(?: \[(?<process>[^\]\r\n]{1,80})\])?/,
    severity: 'high', terminal: false, precedence: 55, evidence: 'call-trace',
    summary: 'CPU {cpu} was stuck in the kernel for {seconds} s (soft lockup, task {process|unknown}).',
  },
  {
    id: 'rcu-stall',
    category: 'rcu-stall',
    keywords: ['detected stall', 'detected expedited stall'],
    // "rcu: INFO: rcu_sched self-detected stall on CPU" (4.20+), "INFO: rcu_sched detected stalls on CPUs/tasks:",
    // "INFO: rcu_sched_state detected stall on CPU 0" (2.6.3x), "INFO: rcu_preempt detected stalls".
    pattern: /rcu_\w{1,20} (?:self-)?detected (?:expedited )?stalls? on CPU|rcu_\w{1,20} detected stalls? on CPUs\/tasks|INFO: rcu_\w{1,20} detected (?:expedited )?stalls?/,
    severity: 'high', terminal: false, precedence: 55, evidence: 'call-trace',
    summary: 'RCU grace periods stalled: a CPU stopped responding in the kernel.',
  },
  {
    id: 'hung-task',
    category: 'hung-task',
    keywords: ['blocked for more than'],
    // The kernel prints "task %s:%d": a comm may itself hold colons and spaces (kworker/0:1, kworker/u4:2),
    // so the name runs lazily up to the last ":<pid> blocked"; 64 characters bound the backtracking.
    pattern: /task (?<task>[^\n]{1,64}?):(?<pid>\d{1,8}) blocked for more than (?<seconds>\d{1,7}) seconds/,
    severity: 'medium', terminal: false, precedence: 40, evidence: 'call-trace',
    summary: 'Task {task} was blocked in the kernel for more than {seconds} s (hung task, usually stuck I/O).',
  },
  {
    id: 'oom-kill',
    category: 'oom',
    keywords: ['Out of memory'],
    // 4.x-6.x: "Out of memory: Killed process 15784 (python3) total-vm:..."; 2.6/3.x: "Out of memory: Kill process
    // 27438 (R) score 31 or sacrifice child". The "<comm> invoked oom-killer" line before it is not proof on its
    // own: a memory cgroup's OOM prints it too (oom-cgroup).
    pattern: /Out of memory(?: \([\w]{1,40}\))?: Kill(?:ed)? process (?<pid>\d{1,8}) \((?<process>[^)\r\n]{1,64})\)|Out of memory and no killable processes/,
    unless: /Memory cgroup out of memory|oom-kill:constraint=CONSTRAINT_MEMCG/,
    severity: 'medium', terminal: false, precedence: 30, evidence: 'around',
    summary: 'The kernel ran out of memory and killed {process|a process}.',
  },
  {
    id: 'oom-cgroup',
    category: 'oom',
    keywords: ['Memory cgroup out of memory'],
    // A container or systemd unit hit its own memory limit: the guest itself has memory.
    pattern: /Memory cgroup out of memory: Kill(?:ed)? process (?<pid>\d{1,8}) \((?<process>[^)\r\n]{1,64})\)/,
    severity: 'low', terminal: false, precedence: 20, evidence: 'around',
    summary: 'A memory cgroup hit its limit and the kernel killed {process}.',
  },
  {
    id: 'oomd-kill',
    category: 'oom',
    keywords: ['systemd-oomd'],
    // systemd-oomd (Fedora 34+, Ubuntu 22.04+) kills a cgroup under memory pressure before the kernel has to.
    // "systemd-oomd[840]: Killed /user.slice/.../vte-spawn-....scope due to memory pressure for ...", newer
    // "Marked /system.slice/x.service for killing due to memory pressure" ("Considered N cgroups" is not a kill).
    pattern: /systemd-oomd\[\d{1,8}\]: (?:Killed|Marked) (?<process>\/\S{1,200})(?: for killing)? due to memory pressure/,
    severity: 'low', terminal: false, precedence: 20, evidence: 'around',
    summary: 'systemd-oomd killed {process} under memory pressure.',
  },
  {
    id: 'fs-readonly',
    category: 'fs-error',
    keywords: ['Remounting filesystem read-only', 'Shutting down filesystem', 'xfs_do_force_shutdown', 'forced shutdown', 'Transaction aborted', 'has been shut down', 'Aborting journal on device'],
    // "EXT4-fs (sda1): Remounting filesystem read-only", "XFS (dm-0): Filesystem has been shut down due to log
    // error", "Aborting journal on device sda1-8." (jbd2, just before ext4 goes read-only); 2.6's ext3 prints
    // "Remounting filesystem read-only" on a line of its own.
    pattern: /(?:EXT[234]-fs|XFS|BTRFS)[^\r\n]{0,20}\((?<device>[^)\r\n]{1,40})\)[^\r\n]{0,200}(?:Remounting filesystem read-only|Shutting down filesystem|xfs_do_force_shutdown|forced shutdown|Transaction aborted|has been shut down)|Aborting journal on device (?<device2>[\w-]{1,40})|^(?:\[[^\]]{1,20}\] ?)?Remounting filesystem read-only/,
    severity: 'high', terminal: false, precedence: 50, evidence: 'around',
    summary: 'The file system on {device} hit an error and was remounted read-only or shut down.',
  },
  {
    id: 'fs-error',
    category: 'fs-error',
    keywords: ['-fs error', 'Corruption detected', 'corruption detected', 'Corruption of in-memory', 'Internal error', 'BTRFS error', 'BTRFS critical', 'BTRFS: error', 'transid verify failed', 'log mount failed', 'log I/O error', 'JBD2: Error', 'JBD2: I/O error'],
    pattern: /EXT[234]-fs error \(device (?<device>[^)\r\n]{1,40})\)|XFS \((?<device2>[^)\r\n]{1,40})\): (?:Metadata corruption detected|Corruption detected|Corruption of in-memory data detected|Internal error|log mount failed)|XFS \((?<device4>[^)\r\n]{1,40})\): log I\/O error|XFS: Internal error|BTRFS(?: error| critical|: error) \(device (?<device3>[^)\s]{1,40})|parent transid verify failed on|JBD2: (?:Error -?\d{1,4} detected when updating journal superblock for|I\/O error (?:when updating journal superblock for|detected when updating journal superblock for)) (?<device5>[\w-]{1,40})/,
    severity: 'medium', terminal: false, precedence: 45, evidence: 'around',
    summary: 'The file system on {device|a disk} reported an error.',
  },
  {
    id: 'block-io-error',
    category: 'fs-error',
    keywords: ['I/O error', 'error, dev '],
    // "blk_update_request: I/O error, dev sda, sector 311" (3.18-5.x), "print_req_error: I/O error, dev sdc" (4.x),
    // "end_request: I/O error, dev sda, sector" (2.6/3.x), "I/O error, dev vda, sector ... op 0x0:(READ)" (5.14+),
    // "Buffer I/O error on dev sda1, logical block 244" / "on device dm-1".
    pattern: /(?:critical (?:medium|target|nexus|space allocation) error|I\/O error), dev (?<device>[\w-]{1,32}), sector|Buffer I\/O error on dev(?:ice)? (?<device2>[\w-]{1,32})/,
    unless: PROBED_DEVICES,
    severity: 'medium', terminal: false, precedence: 45, evidence: 'around',
    summary: 'Block device {device} returned I/O errors.',
  },
  {
    id: 'fs-write-error',
    category: 'fs-error',
    keywords: ['ext4_end_bio', 'SQUASHFS error', 'Metadata CRC error'],
    // "EXT4-fs warning (device dm-1): ext4_end_bio:316: I/O error -5 writing to inode ...": data was lost;
    // "SQUASHFS error: ..." (live images); "XFS (dm-0): Metadata CRC error detected at ...".
    pattern: /EXT4-fs warning \(device (?<device>[^)\r\n]{1,40})\): ext4_end_bio:\d{1,6}: I\/O error|SQUASHFS error: (?<reason>[^\r\n]{1,120})|XFS \((?<device2>[^)\r\n]{1,40})\): Metadata CRC error detected/,
    severity: 'medium', terminal: false, precedence: 45, evidence: 'around',
    summary: 'The file system on {device|a disk} could not write or read its data ({reason|I/O error}).',
  },
  {
    id: 'fsck-failed',
    category: 'fs-error',
    keywords: ['UNEXPECTED INCONSISTENCY'],
    // fsck at boot (sysvinit and systemd-fsck): "/dev/sda1: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY."
    pattern: /(?<device>\/dev\/[^\s:]{1,100})?:? ?UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY/,
    severity: 'high', terminal: false, precedence: 50, evidence: 'around',
    summary: 'fsck found errors on {device|the root file system} it cannot repair by itself.',
  },
  {
    id: 'fs-has-errors',
    category: 'fs-error',
    keywords: ['mounting fs with errors', 'error count since last fsck'],
    pattern: /warning: mounting fs with errors|\((?<device>[^)\r\n]{1,40})\): error count since last fsck/,
    severity: 'low', terminal: false, precedence: 20, evidence: 'around',
    summary: 'A file system ({device|unknown device}) was mounted with errors recorded; fsck is due.',
  },

  // ---- userspace boot stopped in a shell ------------------------------------------------------
  {
    id: 'initramfs-gave-up',
    category: 'initramfs-timeout',
    keywords: ['Gave up waiting for root', 'ALERT!', 'Dropping to a shell', 'dropped into an emergency shell', 'Could not boot.', 'Warning: /dev/', 'rdsosreport', 'Entering emergency mode', 'Dracut Emergency Shell', 'Boot has failed', 'No root device', 'dracut: FATAL', 'No init found'],
    // initramfs-tools: "Gave up waiting for root file system device." then "ALERT!  UUID=... does not exist.
    // Dropping to a shell!"; dracut: "Warning: /dev/mapper/rhel-root does not exist", "Could not boot.",
    // "Generating "/run/initramfs/rdsosreport.txt"", "Entering emergency mode. Exit the shell to continue.";
    // mkinitcpio: "You are now being dropped into an emergency shell."
    pattern: /Gave up waiting for root (?:file ?system |file-system )?device|ALERT! {1,2}(?<device>[^\s]{1,200}) does not exist|Dropping to a shell|dropped into an emergency shell|Could not boot\.|Warning: (?<device2>\/dev\/[^\s]{1,200}) does not exist|Generating "\/run\/initramfs\/rdsosreport\.txt"|Entering emergency mode[.,] Exit the shell to continue|Starting Dracut Emergency Shell|Boot has failed\. To debug this issue|No root device "(?<device3>[^"\r\n]{1,200})" found|dracut: FATAL: (?<reason>[^\r\n]{1,200})|No init found\. {1,2}Try passing init= bootarg/,
    severity: 'high', terminal: true, precedence: 80, evidence: 'around',
    summary: 'The initramfs did not find the root file system ({device|root device missing}) and stopped in its emergency shell.',
  },
  {
    id: 'initrd-root-missing',
    category: 'initramfs-timeout',
    keywords: ['Dependency failed for'],
    // systemd in the initrd: the root device never appeared, so the units mounting /sysroot fail and it
    // goes to emergency mode. That emergency shell is the initramfs's, not the installed system's.
    pattern: /Dependency failed for (?<device>Initrd Root Device|Initrd Root File System|\/sysroot|sysroot\.mount|initrd-root-device\.target|initrd-root-fs\.target)/,
    severity: 'high', terminal: true, precedence: 80, evidence: 'around',
    summary: 'The initramfs did not find the root file system ({device} failed) and stopped in its emergency shell.',
  },
  {
    id: 'initramfs-timeout',
    category: 'initramfs-timeout',
    keywords: ['dracut-initqueue', 'Timed out waiting for device'],
    // Repeats every half second while dracut waits; the device can still appear, so not terminal.
    // "Warning: dracut-initqueue timeout - starting timeout scripts" (older), "dracut-initqueue: starting timeout
    // scripts" / "dracut-initqueue: timeout, still waiting" (055+), systemd: "Timed out waiting for device dev-....device".
    pattern: /dracut-initqueue:? (?:timeout|starting timeout scripts)|Timed out waiting for device (?<device>[^\s]{1,200})/,
    // A console device (ttyS0, hvc0) missing is not a boot problem: QEMU guests without that port print it.
    unless: /Timed out waiting for device (?:dev-)?(?:tty|hvc)/,
    severity: 'medium', terminal: false, precedence: 35, evidence: 'around',
    summary: 'Boot waited too long for a device ({device|dracut initqueue timeout}).',
  },
  {
    id: 'emergency-mode',
    category: 'emergency-mode',
    keywords: ['emergency mode', 'rescue mode', 'Emergency Mode', 'Emergency Shell', 'root password for maintenance', 'Press Enter for maintenance', 'root account is locked'],
    // systemd: "You are in emergency mode. After logging in, type "journalctl -xb" ..." (older: "Welcome to
    // emergency mode!"), "[  OK  ] Reached target Emergency Mode."; sulogin (sysvinit and systemd):
    // "Give root password for maintenance"; locked root: "Press Enter for maintenance".
    pattern: /You are in (?<reason>emergency|rescue) mode|Welcome to (?<reason2>emergency|rescue) mode|Reached target Emergency Mode|Starting Emergency Shell|Give root password for maintenance|Press Enter for maintenance|Cannot open access to console, the root account is locked/,
    severity: 'high', terminal: true, precedence: 70, evidence: 'around',
    summary: 'Boot stopped in {reason|emergency} mode waiting for a root password (usually a failed mount in /etc/fstab).',
  },
  {
    id: 'cloud-init-unit-failed',
    category: 'cloud-init-failure',
    keywords: ['Failed to start'],
    // "[FAILED] Failed to start Initial cloud-init job (metadata service crawler)." (systemd < 250),
    // "Failed to start cloud-final.service - Execute cloud user/final scripts." (250+).
    pattern: /Failed to start (?<module>[^\r\n]{0,60}?(?:[Cc]loud-init|cloud-config|cloud-final|Initial cloud-init job|Apply the settings specified in cloud-config|Execute cloud user\/final scripts)[^\r\n]{0,80})/,
    severity: 'medium', terminal: false, precedence: 30, survivesLogin: true, evidence: 'around',
    summary: 'cloud-init failed: Failed to start {module}',
  },
  {
    id: 'cloud-init-no-datasource',
    category: 'cloud-init-failure',
    keywords: ['No instance datasource found', 'Used fallback datasource', 'Giving up on md from', 'failed to get instance-id of datasource', 'failed to read iid from metadata'],
    // cloud-init found no metadata service: no SSH keys, no user data, often no network configuration.
    // "DataSourceEc2.py[CRITICAL]: Giving up on md from ['http://169.254.169.254/...'] after 123 seconds";
    // CirrOS (OpenStack's test image) says "failed to read iid from metadata. tried 20" and
    // "failed to get instance-id of datasource".
    pattern: /No instance datasource found|Used fallback datasource|Giving up on md from|failed to get instance-id of datasource|failed to read iid from metadata/,
    severity: 'medium', terminal: false, precedence: 30, survivesLogin: true, evidence: 'around',
    summary: 'cloud-init found no datasource (no metadata, SSH keys or user data): the instance is not configured.',
  },
  {
    id: 'cloud-init-module-failed',
    category: 'cloud-init-failure',
    keywords: ['[WARNING]: '],
    // "util.py[WARNING]: Running module scripts-user (<module ...>) failed",
    // "cc_scripts_user.py[WARNING]: Failed to run module scripts-user (scripts in /var/lib/cloud/instance/scripts)".
    pattern: /\[WARNING\]: (?:Running module (?<module>[\w-]{1,60}) \([^\r\n]{0,300}\) failed|Failed to run module (?<module2>[\w-]{1,60})|Failed running (?<module3>\S{1,200}))/,
    severity: 'medium', terminal: false, precedence: 30, survivesLogin: true, evidence: 'around',
    summary: 'cloud-init module {module} failed; the instance may not be configured.',
  },

  // ---- noise: recognised so that it shows in findings, never a problem -------------------------
  {
    id: 'kernel-warning',
    category: 'healthy',
    keywords: ['WARNING: ', 'BUG: sleeping function', 'UBSAN: '],
    // "WARNING: CPU: 1 PID: 31758 at kernel/watchdog.c:265 ..." (3.x+), "WARNING: at fs/.. ()" (2.6):
    // WARN_ON() prints a call trace and the kernel carries on; so do lockdep ("WARNING: possible circular
    // locking dependency detected"), might_sleep ("BUG: sleeping function called from invalid context") and UBSAN.
    pattern: /WARNING: (?:CPU: \d{1,5} PID: \d{1,8} at |at )(?<file>[^\s]{1,200})|WARNING: (?<file2>possible circular locking dependency detected|suspicious RCU usage|inconsistent lock state|possible recursive locking detected)|BUG: (?<file3>sleeping function called from invalid context) at|UBSAN: (?<file4>[\w-]{1,60})/,
    severity: 'low', terminal: false, precedence: 0, evidence: 'call-trace',
    summary: 'The kernel printed a warning ({file}) and carried on.',
  },
];
