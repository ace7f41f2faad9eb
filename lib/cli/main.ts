import { EXIT_INTERRUPTED } from './io.ts';
import { runCli } from './program.ts';

// The entry point: `npm run vmconsole -- <command>` in a checkout, bin/vmconsole.cjs (through the
// bundle dist/vmconsole.mjs) when installed.
// `vmconsole diagnose x.log | head`: the reader went away; that is not an error worth a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
// Ctrl-C aborts what the command waits for (requests, a follow), which then ends with 130; a
// second Ctrl-C, or a command still busy a second later, exits at once.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
  interrupt.abort();
  setTimeout(() => process.exit(EXIT_INTERRUPTED), 1_000).unref();
});
const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, signal: interrupt.signal, env: process.env, cwd: process.cwd() });
process.exitCode = code;
