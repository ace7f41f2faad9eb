import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type ServerRef, type VmconsoleClient } from '../client/vmconsole-client.ts';
import { CliError, EXIT_INTERRUPTED, EXIT_NETWORK, EXIT_OK, isTty, type CliIo } from '../io.ts';
import { startProgress, type Progress } from '../progress.ts';

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

/** One page of GET /vmconsole/v1/servers/{id}/console (format=raw: data in base64). */
interface ConsolePage {
  port: number;
  offset: number;
  next: number;
  start: number;
  end: number;
  data: string;
  format: string;
  bytes: number;
  incomplete?: boolean;
  gap?: { from: number; to: number; reason: string };
}

/**
 * `vmconsole logs <server>`: a console's history through GET /vmconsole/v1/servers/{id}/console,
 * page by page from `--since` (default: the oldest byte held), or its last `--lines` lines;
 * `--follow` keeps long-polling from `next`, across reconnects and migrations (offsets continue on
 * the new host), until Ctrl-C, which ends a follow with 0 (following until stopped is its job).
 */
export function registerLogs(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('logs')
    .description('Print a server\'s console history (all of it, across reboots and migrations), and follow it.')
    .argument('<server>', 'server name or UUID')
    .option('--since <offset>', 'start at this byte offset (as printed by --json\'s "next"); 0: the whole history held', offset)
    .option('--lines <n>', 'only the last n lines (of the newest 256 KiB)', count)
    .option('-f, --follow', 'keep printing new output as it arrives (Ctrl-C stops, exit 0); survives reconnects')
    .option('--raw', 'write the bytes exactly (colours and control sequences pass through); default: UTF-8 text without escape sequences')
    .option('--port <n>', 'serial port (vmconsole consoles lists them)', portNumber, 0)
    .option('--json', 'print each page the API returns as one JSON line (data in base64)')
    .addHelpText('after', `
A download to a file or a pipe shows a progress line on stderr when stderr is a terminal.

Examples:
  vmconsole logs web-1 --lines 20
  vmconsole logs web-1 --since 0 --raw > web-1.log
  vmconsole logs 3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01 --follow --raw`)
    .action(async (ref: string, options: LogsOptions, command: Command) => {
      if (options.lines !== undefined && options.since !== undefined) return command.error('error: --lines and --since both choose where to start; give one');
      const client = await connect(command, io);
      const server = await client.resolveServer(ref);
      const timeout = (command.optsWithGlobals() as { timeout?: string }).timeout;
      // A long poll must end (empty) before the idle --timeout would call it a dead connection.
      const waitS = timeout === undefined ? FOLLOW_WAIT_S : Math.max(0, Math.min(FOLLOW_WAIT_S, Math.floor(Number(timeout) / 2)));
      try {
        await printLogs(client, server, options, io, waitS);
      } catch (err) {
        if (options.follow && err instanceof CliError && err.exitCode === EXIT_INTERRUPTED) return done(EXIT_OK);
        throw err;
      }
      done(EXIT_OK);
    });
}

async function printLogs(client: VmconsoleClient, server: ServerRef, options: LogsOptions, io: CliIo, waitS: number): Promise<void> {
  const path = `/vmconsole/v1/servers/${encodeURIComponent(server.id)}/console`;
  const what = `console of ${server.name}`;
  const format = options.raw || options.json ? 'raw' : 'text';
  let warnedIncomplete = false;
  let progress: Progress = startProgress(io.stderr, { label: what, json: true });
  // A character cut between two pages is decoded whole once its last byte arrives.
  const decoder = new TextDecoder('utf-8');
  const page = async (from: number | undefined, limit: number, wait: number): Promise<ConsolePage> => {
    const query = new URLSearchParams({ port: String(options.port), limit: String(limit), format: 'raw' });
    if (from !== undefined) query.set('since', String(from));
    if (wait > 0) query.set('wait', String(wait));
    const json = await client.json<ConsolePage>(`${path}?${query}`, { what });
    if (!options.json) {
      // --json carries gap and incomplete in its lines; a terminal reader gets them said once.
      if (json.gap) {
        progress.done();
        io.stderr.write(`vmconsole: bytes ${json.gap.from}-${json.gap.to} of this console are ${json.gap.reason === 'missing' ? 'no longer held (expired or lost)' : 'unavailable right now'}\n`);
      }
      if (json.incomplete && !warnedIncomplete) {
        warnedIncomplete = true;
        progress.done();
        io.stderr.write('vmconsole: the host or the history store could not be read: output may be missing\n');
      }
    }
    return json;
  };
  const emit = (json: ConsolePage, bytes: Buffer) => {
    if (options.json) io.stdout.write(`${JSON.stringify({ server, ...json, format, data: format === 'raw' ? bytes.toString('base64') : bytes.toString('utf8'), bytes: bytes.length })}\n`);
    else if (bytes.length > 0) io.stdout.write(options.raw ? bytes : printable(decoder.decode(bytes, { stream: true })));
  };

  let since = options.since;
  if (options.lines !== undefined) {
    const probe = await page(undefined, 1, 0);
    const from = Math.max(probe.start, probe.end - TAIL_BYTES);
    const tail = await page(from, TAIL_BYTES, 0);
    emit(tail, lastLines(Buffer.from(tail.data, 'base64'), options.lines));
    since = tail.next;
  } else {
    // The history up to now, page by page: a long download when stdout is a file or a pipe, with a
    // progress line on a terminal's stderr (not when stdout is that terminal: the text is the progress).
    if (!isTty(io.stdout)) progress = startProgress(io.stderr, { label: what, json: options.json });
    try {
      for (let first = true; ; first = false) {
        const json = await page(since, PAGE_BYTES, 0);
        if (first) progress.setTotal(Math.max(0, json.end - json.offset));
        const bytes = Buffer.from(json.data, 'base64');
        progress.advance(bytes.length);
        emit(json, bytes);
        since = json.next;
        if (json.next >= json.end || json.bytes === 0) break;
      }
    } finally {
      progress.done();
    }
  }
  if (!options.follow) return;
  let retryMs = 0;
  for (;;) {
    try {
      const json = await page(since, PAGE_BYTES, waitS);
      retryMs = 0;
      emit(json, Buffer.from(json.data, 'base64'));
      since = json.next;
    } catch (err) {
      // A host restarting, the server migrating, the API restarting or unreachable for a while:
      // keep the offset and ask again. Ctrl-C, a server gone and a refused token end the follow.
      if (!(err instanceof CliError) || !retryable(err)) throw err;
      retryMs = Math.min(RETRY_MAX_MS, Math.max(500, retryMs * 2));
      io.stderr.write(`vmconsole: ${err.message}${err.code ? ` (${err.code})` : ''}; retrying in ${retryMs / 1000} s\n`);
      await sleep(retryMs, undefined, io.signal ? { signal: io.signal } : {}).catch(() => undefined);
      if (io.signal?.aborted) throw new CliError(EXIT_INTERRUPTED, 'interrupted');
    }
  }
}

/** Worth asking again while following: the network, 409 (host down, in maintenance, migrating), 429, 5xx. */
function retryable(err: CliError): boolean {
  if (err.exitCode === EXIT_NETWORK) return true;
  return err.status !== undefined && (err.status >= 500 || err.status === 409 || err.status === 429);
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
