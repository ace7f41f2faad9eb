import vm from 'node:vm';

/** Nova matches `name` as a regular expression; a pattern this long is an attack, not a name. */
const MAX_NAME_PATTERN = 255;
/** Matching a page of names takes microseconds; this much means catastrophic backtracking. */
const MATCH_BUDGET_MS = 50;

const MATCH_ALL = new vm.Script('const re = new RegExp(pattern); names.map((name) => re.test(name))');

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
  try {
    const context = vm.createContext({ names: items.map((item) => item.name), pattern });
    const matched = MATCH_ALL.runInContext(context, { timeout: MATCH_BUDGET_MS }) as boolean[];
    return items.filter((_, i) => matched[i] === true);
  } catch {
    return literal();
  }
}
