import vm from 'node:vm';

/** Nova matches `name` as a regular expression; a pattern this long is an attack, not a name. */
const MAX_NAME_PATTERN = 255;
/** Matching a page of names takes microseconds; this much means catastrophic backtracking. */
const MATCH_BUDGET_MS = 50;

/**
 * The VM's timeout is wall-clock time: on a busy machine the thread can be descheduled for the
 * whole budget while the pattern had no CPU at all, and a good pattern then matched nothing (1 in
 * 192 server lists filtered by `^(web|db)-` under npm start with 64 concurrent requests). An attempt
 * cut off before it used half its budget in CPU is tried again, a few times: a pattern that
 * backtracks still costs at most ATTEMPTS budgets of CPU.
 */
const ATTEMPTS = 4;

const MATCH_ALL = new vm.Script('const re = new RegExp(pattern); names.map((name) => re.test(name))');

function matchAll(names: string[], pattern: string): boolean[] | undefined {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const before = process.threadCpuUsage();
    try {
      return MATCH_ALL.runInContext(vm.createContext({ names, pattern }), { timeout: MATCH_BUDGET_MS }) as boolean[];
    } catch {
      const used = process.threadCpuUsage(before);
      if ((used.user + used.system) / 1000 >= MATCH_BUDGET_MS / 2) return undefined;
    }
  }
  return undefined;
}

/**
 * Nova's `name` filter: a regex search over server names. Patterns are tenant input, so an
 * invalid or oversized pattern matches literally, and one that backtracks catastrophically is
 * cut off by the VM's timeout (V8 interrupts regex backtracking; no syntactic heuristic catches
 * every exponential pattern, e.g. `(a|a)*$`) and also falls back to a literal match.
 */
export function filterByName<T extends { name: string }>(items: readonly T[], pattern: string): T[] {
  const literal = () => items.filter((item) => item.name === pattern);
  if (pattern.length > MAX_NAME_PATTERN) return literal();
  try {
    new RegExp(pattern);
  } catch {
    return literal();
  }
  if (items.length === 0) return [];
  const matched = matchAll(items.map((item) => item.name), pattern);
  return matched === undefined ? literal() : items.filter((_, i) => matched[i] === true);
}
