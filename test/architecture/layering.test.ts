/**
 * The layering rules, read from the import graph of lib/ and functions/ (every static, dynamic
 * and type-only import, as TypeScript's own pre-processor sees them). Data flows one way: edge ->
 * directory -> transport -> agent -> driver -> console reader; nothing imports back up a layer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Repo-relative file -> what it imports: repo-relative files for relative specifiers, package names otherwise. */
type ImportGraph = Map<string, string[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

function importGraph(dirs: readonly string[]): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of dirs.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    graph.set(file, importedFiles.map(({ fileName }) => (fileName.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), fileName)) : fileName)));
  }
  return graph;
}

interface Rule {
  /** What the rule says, as the failure message shows it. */
  name: string;
  from: readonly string[];
  /** Repo-relative path prefixes (a folder ends with '/') or package-name prefixes. */
  mayNotImport: readonly string[];
}

const under = (path: string, prefixes: readonly string[]) => prefixes.some((p) => path === p || path.startsWith(p));

/** Every import that breaks a rule, as "file -> import (rule)". */
function violations(graph: ImportGraph, rules: readonly Rule[]): string[] {
  const found: string[] = [];
  for (const [file, imports] of graph) {
    for (const rule of rules) {
      if (!under(file, rule.from)) continue;
      for (const imported of imports) if (under(imported, rule.mayNotImport)) found.push(`${file} -> ${imported} (${rule.name})`);
    }
  }
  return found.sort();
}

/** Every import cycle among the graph's files, each as "a -> b -> a" (Tarjan's strongly connected components). */
function cycles(graph: ImportGraph): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[] = [];
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    const selfImport = graph.get(file)!.includes(file);
    if (component.length > 1 || selfImport) found.push([...component.reverse(), component[0]].join(' -> '));
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found.sort();
}

const DRIVERS = ['lib/hypervisors/', 'lib/console/'];
const EDGE = ['functions/', 'lib/nova-api/', 'lib/console-output/', 'lib/servers/', 'lib/services/', 'lib/auth/', 'lib/automation/'];
const USE_CASES = ['lib/console-output/', 'lib/servers/', 'lib/services/'];

const RULES: readonly Rule[] = [
  {
    name: 'drivers know nothing of SQS, HTTP, the wire contract or the layers above them',
    from: DRIVERS,
    mayNotImport: [
      'lib/transport/', 'lib/contracts/messages.ts', 'lib/nova-api/', 'lib/agent/', 'lib/directory/', ...EDGE,
      '@aws-sdk/', '@middy/', 'aws-lambda', 'node:http', 'node:https',
    ],
  },
  { name: 'the console reader sits below the drivers', from: ['lib/console/'], mayNotImport: ['lib/hypervisors/'] },
  { name: 'the edge reaches hosts through the transport, never a driver or the agent', from: EDGE, mayNotImport: ['lib/hypervisors/', 'lib/agent/'] },
  { name: 'the agent answers the transport; it knows no HTTP handler', from: ['lib/agent/'], mayNotImport: ['functions/', 'lib/nova-api/'] },
  { name: 'use cases know no HTTP adapter', from: USE_CASES, mayNotImport: ['lib/nova-api/'] },
  {
    // The follower (lib/console/), the diagnose function and the CLI all call it: text in, diagnosis out.
    name: 'the crash analyser is pure: no I/O, no AWS, no other layer',
    from: ['lib/diagnostics/'],
    mayNotImport: ['lib/agent/', 'lib/transport/', 'lib/directory/', 'lib/cli/', ...DRIVERS, ...EDGE, '@aws-sdk/', '@middy/', 'node:fs', 'node:http', 'node:https', 'node:child_process', 'node:net'],
  },
];

describe('the checker itself', () => {
  const graph: ImportGraph = new Map([
    ['lib/hypervisors/x/driver.ts', ['lib/transport/queue.ts', 'lib/errors.ts', '@aws-sdk/client-sqs']],
    ['lib/console-output/use-case.ts', ['lib/nova-api/validation.ts']],
    ['lib/a.ts', ['lib/b.ts']],
    ['lib/b.ts', ['lib/c.ts', 'zod']],
    ['lib/c.ts', ['lib/a.ts']],
    ['lib/self.ts', ['lib/self.ts']],
    ['lib/errors.ts', []],
  ]);

  it('names each forbidden import with the rule it breaks', () => {
    expect(violations(graph, RULES)).toEqual([
      'lib/console-output/use-case.ts -> lib/nova-api/validation.ts (use cases know no HTTP adapter)',
      'lib/hypervisors/x/driver.ts -> @aws-sdk/client-sqs (drivers know nothing of SQS, HTTP, the wire contract or the layers above them)',
      'lib/hypervisors/x/driver.ts -> lib/transport/queue.ts (drivers know nothing of SQS, HTTP, the wire contract or the layers above them)',
    ]);
  });

  it('finds every cycle, a file importing itself included', () => {
    expect(cycles(graph)).toEqual(['lib/a.ts -> lib/b.ts -> lib/c.ts -> lib/a.ts', 'lib/self.ts -> lib/self.ts']);
  });
});

describe('the import graph of lib/ and functions/', () => {
  const graph = importGraph(['lib', 'functions']);

  it('is read whole: static, dynamic and type-only imports resolved to files', () => {
    expect(graph.get('lib/agent/create-driver.ts')).toContain('lib/hypervisors/libvirt/libvirt-driver.ts'); // dynamic
    expect(graph.get('lib/hypervisors/driver.ts')).toContain('lib/contracts/records.ts'); // type-only
    expect(graph.get('lib/hypervisors/libvirt/domain-xml.ts')).toContain('fast-xml-parser');
    for (const imports of graph.values()) {
      for (const imported of imports) if (imported.startsWith('lib/') || imported.startsWith('functions/')) expect(graph.has(imported), imported).toBe(true);
    }
  });

  it.each(RULES.map((rule) => [rule.name, rule] as const))('%s', (_, rule) => {
    expect(violations(graph, [rule])).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(cycles(graph)).toEqual([]);
  });
});
