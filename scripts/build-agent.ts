import { build, type Metafile } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Where bin/vmconsole-agent.cjs finds the bundle; `files` in package.json ships this directory. */
export const AGENT_BUNDLE = join(ROOT, 'dist/vmconsole-agent.mjs');

/**
 * The agent as one ESM file for Node 20 and newer: no TypeScript stripping at run time, the AWS SDK
 * tree-shaken to the commands the agent sends, minified with a sourcemap beside it
 * (`NODE_OPTIONS=--enable-source-maps` maps stack traces back to lib/).
 */
export async function buildAgent(outfile: string = AGENT_BUNDLE): Promise<{ outfile: string; bytes: number }> {
  await mkdir(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [join(ROOT, 'lib/agent/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // ESM builds of the SDK tree-shake far better than its CommonJS ones.
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
    banner: { js: "import { createRequire as __vmconsoleRequire } from 'node:module'; const require = __vmconsoleRequire(import.meta.url);" },
  });
  return { outfile, bytes: outputBytes(result.metafile, outfile) };
}

function outputBytes(metafile: Metafile, outfile: string): number {
  return metafile.outputs[relative(process.cwd(), outfile)]?.bytes ?? Object.values(metafile.outputs).reduce((n, o) => Math.max(n, o.bytes), 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes } = await buildAgent(process.argv[2]);
  console.log(`built ${relative(process.cwd(), outfile)} (${Math.round(bytes / 1024)} KiB)`);
}
