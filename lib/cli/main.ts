import { runCli } from './program.ts';

// The entry point: `npm run vmconsole -- <command>` in a checkout, bin/vmconsole.cjs (through the
// bundle dist/vmconsole.mjs) when installed. Anything unexpected still exits non-zero with its stack.
// `vmconsole diagnose x.log | head`: the reader went away; that is not an error worth a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
process.exitCode = code;
