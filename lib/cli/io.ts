/**
 * What a command may touch of the process: its streams. main.ts passes the real ones; a command
 * returns its exit code instead of calling process.exit, so the program can be run in a test too.
 */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
}

/**
 * Exit codes of every `vmconsole` command (documented in README "Crash diagnostics"):
 * 0 ok, 1 the command worked and found a problem, 2 usage or input error (bad option, missing file),
 * 78 (sysexits EX_CONFIG, as the agent) the Node.js running it is too old (bin/vmconsole.cjs).
 */
export const EXIT_OK = 0;
export const EXIT_PROBLEM_FOUND = 1;
export const EXIT_USAGE = 2;
export const EXIT_CONFIG = 78;

/** A usage or input error: main prints its message (no stack) and exits with EXIT_USAGE. */
export class CliUsageError extends Error {}
