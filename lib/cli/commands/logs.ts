import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, consoleApiFromEnv, serverIdArgument, type ConsoleApi } from '../console-api.ts';
import { EXIT_OK, EXIT_PROBLEM_FOUND, type CliIo } from '../io.ts';

/** Bytes per request: a page of history (the API allows up to 1 MiB). */
const PAGE_BYTES = 256 * 1024;
/** How far back `--lines` looks for its lines. */
const TAIL_BYTES = 256 * 1024;
/** A follow's long poll: the API's longest wait. */
const FOLLOW_WAIT_S = 20;
const RETRY_MAX_MS = 10_000;

interface LogsOptions {
  since?: number;
  lines?: number;
  follow?: boolean;
  raw?: boolean;
  port: number;
  json?: boolean;
}

/**
 * `vmconsole logs <server>`: a console's history through GET /vmconsole/v1/servers/{id}/console,
 * page by page from `--since` (default: the oldest byte held), or its last `--lines` lines;
 * `--follow` keeps long-polling from `next`, across reconnects and migrations (offsets continue on
 * the new host), until Ctrl-C.
 */
export function registerLogs(program: Command, io: CliIo, done: (code: number) => void, env: NodeJS.ProcessEnv = process.env): void {
  program
    .command('logs')
    .description('Print a server\'s console history (all of it, across reboots and migrations), and follow it.')
    .argument('<server>', 'server id (UUID)', serverIdArgument)
    .option('--since <offset>', 'start at this byte offset (as printed by --json\'s "next")', offset)
    .option('--lines <n>', 'only the last n lines (of the newest 256 KiB)', count)
    .option('-f, --follow', 'keep printing new output as it arrives (Ctrl-C stops)')
    .option('--raw', 'write the bytes exactly (colours and control sequences pass through); default: UTF-8 text without escape sequences')
    .option('--port <n>', 'serial port (vmconsole consoles lists them)', portNumber, 0)
    .option('--json', 'print each page the API returns as one JSON line')
    .addHelpText('after', `
Configuration: VMCONSOLE_URL (the API's base URL) and VMCONSOLE_TOKEN.
Exit codes: 0 done (or stopped with Ctrl-C while following), 1 the API refused (its code on stderr), 2 usage error.

Examples:
  vmconsole logs 3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01 --lines 20
  vmconsole logs 3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01 --follow --raw`)
    .action(async (server: string, options: LogsOptions) => {
      const api = consoleApiFromEnv(env);
      const stop = new AbortController();
      const onSigint = () => stop.abort();
      process.once('SIGINT', onSigint);
      try {
        await printLogs(api, server, options, io, stop.signal);
        done(EXIT_OK);
      } catch (err) {
        if (stop.signal.aborted) return done(EXIT_OK);
        if (!(err instanceof ApiError)) throw err;
        io.stderr.write(`vmconsole: ${err.code}: ${err.message}\n`);
        done(EXIT_PROBLEM_FOUND);
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });
}

async function printLogs(api: ConsoleApi, server: string, options: LogsOptions, io: CliIo, signal: AbortSignal): Promise<void> {
  const path = `/servers/${server}/console`;
  const format = options.raw || options.json ? 'raw' : 'text';
  let since = options.since;
  let warnedIncomplete = false;
  // A character cut between two pages is decoded whole once its last byte arrives.
  const decoder = new TextDecoder('utf-8');
  const page = async (from: number | undefined, limit: number, wait: number) => {
    const { json } = await api.get(path, { port: String(options.port), limit: String(limit), format: 'raw', ...(from !== undefined && { since: String(from) }), ...(wait > 0 && { wait: String(wait) }) }, signal);
    if (json.gap) io.stderr.write(`vmconsole: bytes ${json.gap.from}-${json.gap.to} of this console are ${json.gap.reason === 'missing' ? 'no longer held (expired or lost)' : 'unavailable right now'}\n`);
    if (json.incomplete && !warnedIncomplete) {
      warnedIncomplete = true;
      io.stderr.write('vmconsole: the host or the history store could not be read: output may be missing\n');
    }
    return json as { offset: number; next: number; start: number; end: number; data: string; format: string; bytes: number };
  };
  const emit = (json: Awaited<ReturnType<typeof page>>, bytes: Buffer) => {
    if (options.json) io.stdout.write(`${JSON.stringify({ ...json, format, data: format === 'raw' ? bytes.toString('base64') : bytes.toString('utf8'), bytes: bytes.length })}\n`);
    else if (bytes.length > 0) io.stdout.write(options.raw ? bytes : printable(decoder.decode(bytes, { stream: true })));
  };

  if (since === undefined && options.lines !== undefined) {
    const probe = await page(undefined, 1, 0);
    const from = Math.max(probe.start, probe.end - TAIL_BYTES);
    const tail = await page(from, TAIL_BYTES, 0);
    const bytes = Buffer.from(tail.data, 'base64');
    emit({ ...tail }, lastLines(bytes, options.lines));
    since = tail.next;
  } else {
    // The history up to now, page by page.
    for (;;) {
      const json = await page(since, PAGE_BYTES, 0);
      emit(json, Buffer.from(json.data, 'base64'));
      since = json.next;
      if (json.next >= json.end || json.bytes === 0) break;
    }
  }
  if (!options.follow) return;
  let retryMs = 0;
  while (!signal.aborted) {
    try {
      const json = await page(since, PAGE_BYTES, FOLLOW_WAIT_S);
      retryMs = 0;
      emit(json, Buffer.from(json.data, 'base64'));
      since = json.next;
    } catch (err) {
      if (signal.aborted) return;
      // A host restarting or the server migrating: keep the offset and ask again.
      retryMs = Math.min(RETRY_MAX_MS, Math.max(500, retryMs * 2));
      if (err instanceof ApiError && err.status < 500 && ![409, 429].includes(err.status)) throw err;
      io.stderr.write(`vmconsole: ${err instanceof ApiError ? `${err.code}: ${err.message}` : (err as Error).message}; retrying in ${retryMs / 1000} s\n`);
      await sleep(retryMs, undefined, { signal }).catch(() => undefined);
    }
  }
}

/** The last n lines of bytes (a trailing newline ends the last line, it does not start one). */
export function lastLines(bytes: Buffer, n: number): Buffer {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= 1;
  let at = end;
  for (let found = 0; at > 0; ) {
    at = bytes.lastIndexOf(0x0a, at - 1);
    if (at < 0) return bytes;
    if (++found === n) return bytes.subarray(at + 1);
  }
  return bytes;
}

/** Text for a terminal: escape sequences and control characters other than newline and tab removed (--raw keeps them). */
export function printable(text: string): string {
  return text
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/\r\n/g, '\n').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

function offset(value: string): number {
  if (!/^\d{1,16}$/.test(value) || Number(value) > Number.MAX_SAFE_INTEGER) throw new InvalidArgumentError('expected a byte offset, 0 or more');
  return Number(value);
}

function count(value: string): number {
  if (!/^[1-9]\d{0,6}$/.test(value)) throw new InvalidArgumentError('expected a number of lines, 1 or more');
  return Number(value);
}

function portNumber(value: string): number {
  if (!/^\d{1,2}$/.test(value) || Number(value) > 31) throw new InvalidArgumentError('expected a serial port, 0 to 31');
  return Number(value);
}
