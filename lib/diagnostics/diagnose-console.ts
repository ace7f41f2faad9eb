import { bootMarkerStage, BOOT_MARKERS, splitBoots, type BootMarkerHit, type BootRange } from './boots.ts';
import { bugcheckCode, bugcheckName, normaliseBugcheckCode } from './bugcheck-codes.ts';
import { cleanConsoleText, decodeConsole, evidenceText, lineOfOffset, lineText, splitConsoleLines, type ConsoleLines } from './console-text.ts';
import { SEVERITIES, severityRank, type Diagnosis, type Evidence, type EvidenceLine, type Finding, type Severity } from './diagnosis.ts';
import { RULES, type Rule } from './rules.ts';

/**
 * Lines showing the boot reached userspace and someone could log in: a problem before one of these
 * did not end the boot. Literal keywords first (found in the same pass as the rules), then a check.
 * "Reached target Login Prompts" is not one: systemd reaches it on the way into emergency mode too.
 */
const READY_KEYWORDS = ['login:', 'Reached target', 'finished at', 'Getty on', 'SAC started', 'Ready to use'];
const READY = /\blogin: ?|Reached target (?:[\w.-]{1,40} - )?(?:Multi-User System|Graphical Interface)|Cloud-init v\. \S{1,40} finished at|Started (?:Serial )?Getty on|SAC started and initialized|Windows is Ready to use/;

/** How far around a keyword a rule's pattern looks: a kernel line is at most 1,024 characters. */
const BEFORE_KEYWORD = 300;
const AFTER_KEYWORD = 1024;
/** On a line longer than a kernel line, how many occurrences of a keyword a rule is tried at. */
const MAX_TRIES_PER_LINE = 32;
const TRACE_MAX_LINES = 60;
const TRACE_HEADER_WITHIN = 40;
const AROUND_BEFORE = 3;
const AROUND_AFTER = 6;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const ALL_KEYWORDS = [...new Set([...RULES.flatMap((r) => r.keywords), ...BOOT_MARKERS.map((m) => m.keyword), ...READY_KEYWORDS])].sort((a, b) => b.length - a.length);
/**
 * Every keyword in one alternation, longest first: one linear pass over the window finds the few
 * lines worth a closer look, and on such a line which keywords it holds, so only their rules run.
 */
const ANY_KEYWORD = new RegExp(ALL_KEYWORDS.map(escape).join('|'), 'g');
/** An alternation reports one keyword per position: the keywords that are a prefix of another are added back. */
const PREFIXES = new Map(ALL_KEYWORDS.map((k) => [k, ALL_KEYWORDS.filter((p) => p !== k && k.startsWith(p))]));
const RULES_BY_KEYWORD = new Map(ALL_KEYWORDS.map((k) => [k, RULES.filter((r) => r.keywords.includes(k))]));
const BOOT_KEYWORDS = new Set(BOOT_MARKERS.map((m) => m.keyword));
const READY_KEYWORD_SET = new Set(READY_KEYWORDS);

/** Kernel timestamp or log level prefix, to look at what a line says. */
const PREFIX = /^\s{0,4}(?:<\d>)?(?:\[\s{0,12}\d{1,10}\.\d{1,9}\])?(?:\[\s{0,8}[TC]\d{1,8}\])?\s?/;
const TRACE_HEADER = /Call Trace:|Call trace:|Backtrace:|Exception stack|^Stack:/;
/** A line that still belongs to a trace: frames (`+0x`), markers, register dumps, the end marker. */
const TRACE_LINE = /\+0x|<\/?[A-Z]{2,8}>|^\s|^\[<|^\? |^[A-Z][A-Za-z0-9]{1,4} ?:|^Code: |---\[ end|Kernel Offset|^Modules linked in|^Hardware name|^CPU: |^Workqueue|^Task dump|^r\d{1,2} ?:|^\(|^[0-9a-f]{4}:/;

interface Hit {
  rule: Rule;
  line: number;
  fields: Record<string, string>;
}

export interface DiagnoseOptions {
  /** Diagnose this boot (1-based) instead of choosing. */
  boot?: number;
}

/**
 * Console text (the Nova API's string, or the raw bytes of a console log) -> diagnosis of its newest
 * boot. Never throws on any input; time is linear in the input (see rules.ts on patterns).
 */
export function diagnoseConsole(input: string | Uint8Array, options: DiagnoseOptions = {}): Diagnosis {
  const lines = splitConsoleLines(cleanConsoleText(decodeConsole(input)));
  const count = lines.starts.length;
  const { hits, markers, ready } = scan(lines);
  const boots = splitBoots(markers, count);
  // Lines before the first banner are the end of an older boot (a rotated log starts mid-boot), unless
  // all they show is a boot loader's complaint: then they are this boot's GRUB, which prints no banner
  // of its own when its menu is hidden, and the kernel banner after them means it got past it.
  const leading = boots[0]!;
  if (boots.length > 1 && leading.startLine === undefined) {
    const early = hits.filter((h) => h.line <= leading.lastLine);
    if (early.length > 0 && early.every((h) => h.rule.category === 'grub-error')) {
      boots.shift();
      boots[0]!.firstLine = 1;
      boots.forEach((b, i) => (b.index = i + 1));
    }
  }
  const kernels = markers.filter((m) => m.stage === 2).map((m) => m.line);

  const diagnoseBoot = (boot: BootRange, latest: boolean): Diagnosis => diagnoseRange(lines, boot, boots.length, hits, ready, kernels, markers.filter((m) => m.stage >= 1).map((m) => m.line), latest, count);

  if (options.boot !== undefined) {
    const chosen = boots[Math.min(Math.max(options.boot, 1), boots.length) - 1]!;
    return diagnoseBoot(chosen, chosen.index === boots.length);
  }
  const newest = diagnoseBoot(boots.at(-1)!, true);
  // A guest that panicked and rebooted (panic=10) shows a boot that has only started: no finding and
  // no login prompt yet. The crash that triggered the diagnosis is in the boot before.
  const newestBoot = boots.at(-1)!;
  const started = newest.findings.some((f) => f.category !== 'healthy') || ready.some((l) => l >= newestBoot.firstLine);
  if (!started && boots.length > 1) {
    const previous = diagnoseBoot(boots.at(-2)!, false);
    if (severityRank(previous.severity) >= severityRank('high')) return previous;
  }
  return newest;
}

/** One pass with the combined keyword pattern, then the rules of the keywords found on the few lines it found. */
function scan(lines: ConsoleLines): { hits: Hit[]; markers: BootMarkerHit[]; ready: number[] } {
  const hits: Hit[] = [];
  const markers: BootMarkerHit[] = [];
  const ready: number[] = [];
  const finder = new RegExp(ANY_KEYWORD.source, 'g');
  const inLine = new RegExp(ANY_KEYWORD.source, 'g');
  const { text, starts } = lines;
  for (let m = finder.exec(text); m !== null; m = finder.exec(text)) {
    const n = lineOfOffset(lines, m.index);
    const line = lineText(lines, n);
    const present = new Set<string>();
    inLine.lastIndex = 0;
    for (let k = inLine.exec(line); k !== null; k = inLine.exec(line)) {
      present.add(k[0]);
      for (const p of PREFIXES.get(k[0])!) present.add(p);
      inLine.lastIndex = k.index + 1;
    }
    const rules = new Set<Rule>();
    let boot = false;
    let up = false;
    for (const k of present) {
      for (const r of RULES_BY_KEYWORD.get(k)!) rules.add(r);
      boot ||= BOOT_KEYWORDS.has(k);
      up ||= READY_KEYWORD_SET.has(k);
    }
    if (boot) {
      const stage = bootMarkerStage(line);
      if (stage !== undefined) markers.push({ line: n, stage });
    }
    if (up && READY.test(line)) ready.push(n);
    // In table order, so findings on one line keep the table's order.
    for (const rule of RULES) {
      if (!rules.has(rule)) continue;
      const fields = matchRule(rule, line, present);
      if (fields) hits.push({ rule, line: n, fields });
    }
    // The rest of this line has been looked at: continue on the next one.
    const next = starts[n];
    if (next === undefined) break;
    finder.lastIndex = next;
  }
  return { hits, markers, ready };
}

function matchRule(rule: Rule, line: string, present: ReadonlySet<string>): Record<string, string> | undefined {
  const short = line.length <= BEFORE_KEYWORD + AFTER_KEYWORD;
  for (const keyword of rule.keywords) {
    if (!present.has(keyword)) continue;
    // A short line is tried whole, once. A long one around the first few occurrences of the keyword
    // and its last one: garbage holding the keyword must not hide the real message, which a dying
    // guest's console usually has at the end of the line.
    const offsets: number[] = [];
    for (let at = line.indexOf(keyword); at !== -1 && offsets.length < (short ? 1 : MAX_TRIES_PER_LINE); at = line.indexOf(keyword, at + 1)) offsets.push(at);
    const last = line.lastIndexOf(keyword);
    if (!short && !offsets.includes(last)) offsets.push(last);
    for (const at of offsets) {
      const window = short ? line : line.slice(Math.max(0, at - BEFORE_KEYWORD), at + keyword.length + AFTER_KEYWORD);
      const m = rule.pattern.exec(window);
      if (!m) continue;
      if (rule.unless?.test(window)) return undefined;
      const fields: Record<string, string> = {};
      // `device2` and `device3` are `device` in other alternatives of the same pattern.
      for (const [name, value] of Object.entries(m.groups ?? {})) {
        const base = name.replace(/\d+$/, '');
        if (value !== undefined && fields[base] === undefined) fields[base] = value.trim();
      }
      return fields;
    }
  }
  return undefined;
}

function diagnoseRange(lines: ConsoleLines, boot: BootRange, bootCount: number, allHits: readonly Hit[], allReady: readonly number[], allKernels: readonly number[], allLoaders: readonly number[], latest: boolean, lineCount: number): Diagnosis {
  const inBoot = (n: number) => n >= boot.firstLine && n <= boot.lastLine;
  const hits = allHits.filter((h) => inBoot(h.line));
  const after = { ready: allReady.filter(inBoot).at(-1) ?? 0, kernel: allKernels.filter(inBoot).at(-1) ?? 0, loader: allLoaders.filter(inBoot).at(-1) ?? 0 };

  const byRule = new Map<string, Hit[]>();
  for (const h of hits) {
    const list = byRule.get(h.rule.id);
    if (list) list.push(h);
    else byRule.set(h.rule.id, [h]);
  }
  const findings: Finding[] = [...byRule.values()]
    .filter((list) => { const over = list[0]!.rule.supersededBy; return over === undefined || !byRule.has(over); })
    .map((list) => toFinding(lines, boot, list, after))
    .sort((a, b) => a.line - b.line);

  const problems = findings.filter((f) => f.category !== 'healthy');
  const enders = problems.filter((f) => f.terminal && !f.continued);
  const precedenceOf = (f: Finding) => RULES.find((r) => r.id === f.rule)!.precedence;
  const pick = (list: Finding[], better: (a: Finding, b: Finding) => number) => list.reduce((best, f) => (better(f, best) >= 0 ? f : best));
  let main: Finding | undefined;
  if (enders.length > 0) main = pick(enders, (a, b) => precedenceOf(a) - precedenceOf(b) || a.lastLine - b.lastLine);
  else if (problems.length > 0) main = pick(problems, (a, b) => severityRank(a.severity) - severityRank(b.severity) || precedenceOf(a) - precedenceOf(b) || a.lastLine - b.lastLine);

  const startLine = boot.startLine;
  const bootInfo = {
    index: boot.index,
    count: bootCount,
    firstLine: boot.firstLine,
    lastLine: boot.lastLine,
    ...(startLine !== undefined ? { startedBy: { line: startLine, text: evidenceText(lineText(lines, startLine)) } } : {}),
    latest,
  };
  const where = `boot ${boot.index} of ${bootCount}`;
  if (!main) {
    const noise = findings.reduce<Severity>((s, f) => (severityRank(f.severity) > severityRank(s) ? f.severity : s), 'info');
    const loudest = findings.find((f) => f.severity === noise);
    return {
      v: 1,
      category: 'healthy',
      severity: noise,
      summary: loudest ? `No crash signature in ${where}; ${lowerFirst(loudest.summary)}` : `No crash signature in ${where}.`,
      evidence: loudest ? loudest.evidence : { lines: [], context: { kind: 'around', lines: [] } },
      findings,
      boot: bootInfo,
      lines: lineCount,
    };
  }
  return {
    v: 1,
    category: main.category,
    severity: main.severity,
    summary: main.summary,
    ...(main.reason !== undefined ? { reason: main.reason } : {}),
    ...(main.code !== undefined ? { code: main.code } : {}),
    ...(main.codeName !== undefined ? { codeName: main.codeName } : {}),
    evidence: main.evidence,
    findings,
    boot: bootInfo,
    lines: lineCount,
  };
}

/** The last line in the boot showing it got further: a login prompt (or equivalent), a kernel banner. */
interface LaterProgress {
  ready: number;
  kernel: number;
  /** A boot loader or kernel banner. */
  loader: number;
}

function toFinding(lines: ConsoleLines, boot: BootRange, hits: Hit[], after: LaterProgress): Finding {
  const first = hits[0]!;
  const last = hits.at(-1)!;
  const rule = first.rule;
  // The first occurrence's fields, completed by later ones (an OOM's "invoked oom-killer" line names no victim).
  const fields: Record<string, string> = {};
  for (const h of hits) for (const [k, v] of Object.entries(h.fields)) if (fields[k] === undefined && v !== '') fields[k] = v;

  let code: string | undefined;
  let codeName: string | undefined;
  if (rule.category === 'windows-bugcheck') {
    code = fields.code !== undefined ? normaliseBugcheckCode(fields.code) : fields.name !== undefined ? bugcheckCode(fields.name) : undefined;
    codeName = (code !== undefined ? bugcheckName(code) : undefined) ?? fields.name;
    fields.bugcheck = [code, codeName].filter((x) => x !== undefined).join(' ') || 'unknown';
  }
  if (fields.reason !== undefined) fields.reason = fields.reason.replace(/\s*\]---\s*$/, '').replace(/[.\s]+$/, '');
  const reason = rule.category === 'windows-bugcheck' ? undefined : fields.reason ?? fields.device ?? fields.process ?? fields.task ?? fields.module ?? fields.file;

  // A boot-loader or firmware complaint followed by a kernel starting did not stop the boot: SeaBIOS
  // trying the CD-ROM before the disk, GRUB missing one entry's file before the default loads.
  // One device failing in the firmware is passed once a boot loader starts from another one (SeaBIOS
  // trying the CD-ROM before the disk); its next "Booting from ..." alone proves nothing.
  const kernelFollowed = rule.category === 'grub-error' && (after.kernel > last.line || (rule.id === 'boot-device-failed' && after.loader > last.line));
  const continued = after.ready > last.line || kernelFollowed;
  let severity = rule.severity;
  if (kernelFollowed) severity = 'low';
  else if (continued && !rule.survivesLogin && severityRank(severity) > severityRank('low')) severity = SEVERITIES[severityRank(severity) - 1]!;

  const matched: EvidenceLine[] = [{ line: first.line, text: evidenceText(lineText(lines, first.line)) }];
  if (hits.length > 1) matched.push({ line: last.line, text: evidenceText(lineText(lines, last.line)) });

  return {
    rule: rule.id,
    category: rule.category,
    severity,
    summary: fill(rule.summary, fields),
    line: first.line,
    lastLine: last.line,
    count: hits.length,
    continued,
    terminal: rule.terminal,
    ...(reason !== undefined && reason !== '' ? { reason } : {}),
    ...(code !== undefined ? { code } : {}),
    ...(codeName !== undefined ? { codeName } : {}),
    evidence: { lines: matched, context: rule.evidence === 'call-trace' ? callTrace(lines, boot, first.line) : around(lines, boot, first.line) },
  };
}

/** `{name}` -> the field; `{name|fallback}` -> the field, or the fallback when it did not match. */
function fill(template: string, fields: Record<string, string>): string {
  return template.replace(/\{(\w+)(?:\|([^}]*))?\}/g, (_, name: string, fallback: string | undefined) => fields[name] ?? fallback ?? '');
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

function around(lines: ConsoleLines, boot: BootRange, line: number): Evidence['context'] {
  const out: EvidenceLine[] = [];
  for (let n = Math.max(boot.firstLine, line - AROUND_BEFORE); n <= Math.min(boot.lastLine, line + AROUND_AFTER); n++) {
    if (n !== line) out.push({ line: n, text: evidenceText(lineText(lines, n)) });
  }
  return { kind: 'around', lines: out };
}

/**
 * The lines after a panic, oops, lockup or WARNING: its register dump and call trace, up to the
 * kernel's "---[ end" marker or the first line after the trace that is not part of it.
 */
function callTrace(lines: ConsoleLines, boot: BootRange, line: number): Evidence['context'] {
  const out: EvidenceLine[] = [];
  let inTrace = false;
  const last = Math.min(boot.lastLine, line + TRACE_MAX_LINES);
  for (let n = line + 1; n <= last; n++) {
    const text = lineText(lines, n);
    const body = text.replace(PREFIX, '');
    if (inTrace && !TRACE_LINE.test(body) && body.trim() !== '') break;
    out.push({ line: n, text: evidenceText(text) });
    if (text.includes('---[ end')) break;
    if (TRACE_HEADER.test(body)) inTrace = true;
    if (!inTrace && n - line >= TRACE_HEADER_WITHIN) break;
  }
  if (!inTrace && !out.some((l) => l.text.includes('---[ end'))) return around(lines, boot, line);
  return { kind: 'call-trace', lines: out };
}
