import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForNode } from './bundle-for-node.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where bin/vmconsole-agent.cjs finds the bundle; `files` in package.json ships this directory. */
export const AGENT_BUNDLE = join(ROOT, 'dist/vmconsole-agent.mjs');

/** The agent, as every installed program is built (scripts/bundle-for-node.ts). */
export function buildAgent(outfile: string = AGENT_BUNDLE): Promise<{ outfile: string; bytes: number }> {
  return bundleForNode(join(ROOT, 'lib/agent/main.ts'), outfile);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes } = await buildAgent(process.argv[2]);
  console.log(`built ${relative(process.cwd(), outfile)} (${Math.round(bytes / 1024)} KiB)`);
}
