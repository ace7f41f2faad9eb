/**
 * What a command may touch of the process: its streams, and the signal that Ctrl-C aborts. main.ts
 * passes the real ones; a command returns its exit code instead of calling process.exit, so the
 * program can be run in a test too.
 */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  /** Aborted on Ctrl-C (SIGINT): pass it to every request and wait, so the command ends cleanly with 130. */
  signal?: AbortSignal;
  /** The environment configuration is read from (process.env in main.ts; tests give their own). */
  env?: NodeJS.ProcessEnv;
  /** Where ./clouds.yaml is looked for (process.cwd() by default). */
  cwd?: string;
}

/** Whether a stream is a terminal (a pipe, a file and a test's buffer are not). */
export const isTty = (stream: NodeJS.WritableStream | NodeJS.ReadableStream): boolean => (stream as { isTTY?: boolean }).isTTY === true;

/**
 * Exit codes of every `vmconsole` command (README "The vmconsole CLI", and `vmconsole --help`).
 * Scripts may rely on them: they are only ever added to.
 */
export const EXIT_OK = 0;
/** diagnose: the command worked and found a problem of medium severity or worse. */
export const EXIT_PROBLEM_FOUND = 1;
/** A usage or input error: an unknown option, a missing argument, a file that cannot be read or written. */
export const EXIT_USAGE = 2;
/** The server (by UUID or name) or another resource does not exist, or is not visible to you. */
export const EXIT_NOT_FOUND = 3;
/** A server name matches more than one server: use its UUID. */
export const EXIT_AMBIGUOUS = 4;
/** Authentication refused: no or a bad token (401), not allowed (403), Keystone refused the credentials. */
export const EXIT_AUTH = 5;
/** The API answered with an error: a conflict (409, e.g. no graphics, host down), rate limited (429), a server-side failure (5xx), an unexpected answer. */
export const EXIT_API = 6;
/** The API or Keystone could not be reached: connection refused, name not resolved, timed out. */
export const EXIT_NETWORK = 7;
/** sysexits EX_CONFIG, as the agent: no usable configuration (no VMCONSOLE_URL, OS_* or clouds.yaml cloud), or a Node.js too old (bin/vmconsole.cjs). */
export const EXIT_CONFIG = 78;
/** sysexits EX_SOFTWARE: a bug in vmconsole; VMCONSOLE_DEBUG=1 prints its stack. */
export const EXIT_INTERNAL = 70;
/** Interrupted by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

export const EXIT_CODES_HELP = `Exit codes:
  0   ok
  1   diagnose: a problem of medium severity or worse was found
  2   usage or input error (bad option, missing argument, unreadable or unwritable file)
  3   not found: no such server (by UUID or name) visible to you
  4   ambiguous: the name matches several servers; use the UUID
  5   authentication refused (401/403, or Keystone refused the credentials)
  6   the API answered an error (409 e.g. no graphics or host down, 429, 5xx)
  7   network: the API or Keystone could not be reached, or timed out
  70  internal error (a bug; VMCONSOLE_DEBUG=1 shows its stack)
  78  configuration: no VMCONSOLE_URL, OS_* variables or clouds.yaml cloud to use
  130 interrupted (Ctrl-C)`;

/** An error a command reports: main prints its message on stderr (no stack) and exits with `exitCode`. */
export class CliError extends Error {
  readonly exitCode: number;
  /** The API's stable error code (vmconsole's catalogue, or a Nova fault name), when the API said one. */
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  /** The HTTP status the API answered, when the error is an answer. */
  readonly status: number | undefined;

  constructor(exitCode: number, message: string, options: { code?: string | undefined; requestId?: string | undefined; status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = options.code;
    this.requestId = options.requestId;
    this.status = options.status;
  }
}

/** A usage or input error: exit code 2. */
export class CliUsageError extends CliError {
  constructor(message: string) {
    super(EXIT_USAGE, message);
    this.name = 'CliUsageError';
  }
}
