import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForNode } from './bundle-for-node.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where bin/vmconsole.cjs finds the bundle; `files` in package.json ships dist/. */
export const CLI_BUNDLE = join(ROOT, 'dist/vmconsole.mjs');

/**
 * The `vmconsole` command line, as every installed program is built (scripts/bundle-for-node.ts).
 * In a checkout, `npm run vmconsole` runs lib/cli/main.ts directly.
 */
export function buildCli(outfile: string = CLI_BUNDLE): Promise<{ outfile: string; bytes: number }> {
  return bundleForNode(join(ROOT, 'lib/cli/main.ts'), outfile);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes } = await buildCli(process.argv[2]);
  console.log(`built ${relative(process.cwd(), outfile)} (${Math.round(bytes / 1024)} KiB)`);
}
