import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where bin/vmconsole.cjs finds the bundle; `files` in package.json ships dist/. */
export const CLI_BUNDLE = join(ROOT, 'dist/vmconsole.mjs');

/**
 * The `vmconsole` command line as one ESM file, as the agent is built (scripts/build-agent.ts): an
 * installed package runs no TypeScript (Node does not strip types under node_modules) and loads no
 * dependency tree at start. In a checkout, `npm run vmconsole` runs lib/cli/main.ts directly.
 */
export async function buildCli(outfile: string = CLI_BUNDLE): Promise<{ outfile: string }> {
  await mkdir(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [join(ROOT, 'lib/cli/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __vmconsoleRequire } from 'node:module'; const require = __vmconsoleRequire(import.meta.url);" },
  });
  return { outfile };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile } = await buildCli(process.argv[2]);
  console.log(`built ${relative(process.cwd(), outfile)}`);
}
