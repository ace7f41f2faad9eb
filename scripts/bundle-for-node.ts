import { build, type Metafile } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { dirname, relative } from 'node:path';

/**
 * One of vmconsole's installed programs (the agent, the CLI) as one ESM file for Node 20 and newer:
 * an installed package runs no TypeScript (Node does not strip types under node_modules) and
 * loads no dependency tree at start; the AWS SDK is tree-shaken to the commands the program sends,
 * minified with a sourcemap beside it (`NODE_OPTIONS=--enable-source-maps` maps stack traces back
 * to lib/). Returns the bundle's size.
 */
export async function bundleForNode(entry: string, outfile: string): Promise<{ outfile: string; bytes: number }> {
  await mkdir(dirname(outfile), { recursive: true });
  const result = await build({
    entryPoints: [entry],
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
