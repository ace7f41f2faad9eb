import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { diagnoseConsole } from '../../diagnostics/diagnose-console.ts';
import { severityRank, type Diagnosis, type EvidenceLine } from '../../diagnostics/diagnosis.ts';
import { connect } from '../client/vmconsole-client.ts';
import { CliUsageError, EXIT_OK, EXIT_PROBLEM_FOUND, type CliIo } from '../io.ts';

/**
 * A console log larger than this is read from its end: the newest boot is there, and the analyser's
 * time and the report stay bounded. Nova's window is 100 KiB; virtlogd rotates at 2 MiB.
 */
export const DIAGNOSE_MAX_BYTES = 16 * 1024 * 1024;

export function registerDiagnose(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('diagnose')
    .description('Say what broke in a guest console log: the category, one sentence, and the lines that prove it.')
    .argument('[file]', 'console log to read (raw bytes or text as the Nova API returns it); - reads standard input')
    .option('-s, --server <server>', "diagnose a server's console now, through vmconsole (name or UUID; POST /vmconsole/v1/servers/{id}/diagnose), instead of a file")
    .option('--json', 'print the diagnosis as JSON (the contract the API and SNS publish; with --server, the API\'s answer)')
    .option('--boot <n>', 'diagnose boot n of the log (1 is the oldest) instead of the newest', positiveInteger)
    .addHelpText('after', `
Exit codes:
  0  healthy, or only low severity (noise, a problem the guest lived through)
  1  a problem of medium severity or worse was found
  2  usage or input error (unknown option, file not found, not a regular file)
  3-7, 78, 130  with --server, as every command (vmconsole --help)

Examples:
  vmconsole diagnose /var/log/libvirt/qemu/instance-0000002a.log
  openstack console log show my-server | vmconsole diagnose - --json
  vmconsole diagnose --server web-1`)
    .action(async (file: string | undefined, options: { server?: string; json?: boolean; boot?: number }, command: Command) => {
      if (options.server !== undefined) {
        if (file !== undefined) return command.error('error: give a file or --server, not both');
        if (options.boot !== undefined) return command.error('error: --boot reads a file; with --server the API diagnoses the newest boot');
        return done(await diagnoseServer(command, io, options.server, options.json === true));
      }
      if (file === undefined) return command.error("error: missing required argument 'file' (or --server <server>)");
      const input = file === '-' ? await readStdin(io.stdin) : await readLogFile(file);
      const diagnosis = diagnoseConsole(input.bytes, options.boot !== undefined ? { boot: options.boot } : {});
      if (input.skipped > 0) io.stderr.write(`vmconsole: ${file} is ${input.total} bytes; diagnosed its last ${input.bytes.length} (line numbers count from there)\n`);
      io.stdout.write(options.json ? `${JSON.stringify(diagnosis, null, 2)}\n` : formatDiagnosis(diagnosis));
      done(exitFor(diagnosis));
    });
}

const exitFor = (d: Diagnosis) => (severityRank(d.severity) >= severityRank('medium') ? EXIT_PROBLEM_FOUND : EXIT_OK);

/** --server: the diagnose function's use case through the API, shown as a file's diagnosis is. */
async function diagnoseServer(command: Command, io: CliIo, ref: string, json: boolean): Promise<number> {
  const client = await connect(command, io);
  const server = await client.resolveServer(ref);
  const answer = await client.json<{ diagnosis: { id: string; createdAt: string; diagnosis: Diagnosis }; created: boolean }>(
    `/vmconsole/v1/servers/${encodeURIComponent(server.id)}/diagnose`,
    { method: 'POST', what: `diagnosing ${server.name}` },
  );
  const { diagnosis } = answer.diagnosis;
  if (json) {
    io.stdout.write(`${JSON.stringify({ server, ...answer }, null, 2)}\n`);
  } else {
    const when = answer.created ? 'new diagnosis' : `this crash was diagnosed at ${answer.diagnosis.createdAt}`;
    io.stdout.write(`${server.name} (${server.id}): ${when}, ${answer.diagnosis.id}\n${formatDiagnosis(diagnosis)}`);
  }
  return exitFor(diagnosis);
}

function positiveInteger(value: string): number {
  if (!/^[1-9]\d{0,5}$/.test(value)) throw new InvalidArgumentError('expected a boot number, 1 or more');
  return Number(value);
}

interface Input {
  bytes: Buffer;
  total: number;
  skipped: number;
}

async function readLogFile(path: string): Promise<Input> {
  let handle;
  try {
    handle = await open(path, 'r');
    const stat = await handle.stat();
    if (!stat.isFile()) throw new CliUsageError(`${path}: not a regular file`);
    const total = stat.size;
    const length = Math.min(total, DIAGNOSE_MAX_BYTES);
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await handle.read(bytes, 0, length, total - length);
    return { bytes: bytes.subarray(0, bytesRead), total, skipped: total - length };
  } catch (err) {
    if (err instanceof CliUsageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new CliUsageError(`cannot read ${path}: ${why}`);
  } finally {
    await handle?.close();
  }
}

/** Standard input, keeping only the last DIAGNOSE_MAX_BYTES (a pipe has no size to seek from). */
async function readStdin(stdin: NodeJS.ReadableStream): Promise<Input> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(buf);
    kept += buf.length;
    total += buf.length;
    while (kept - chunks[0]!.length >= DIAGNOSE_MAX_BYTES) kept -= chunks.shift()!.length;
  }
  const all = Buffer.concat(chunks);
  const bytes = all.length > DIAGNOSE_MAX_BYTES ? all.subarray(all.length - DIAGNOSE_MAX_BYTES) : all;
  return { bytes, total, skipped: total - bytes.length };
}

/** The short readable report: what, how bad, which boot, the proving lines, then the other findings. */
export function formatDiagnosis(d: Diagnosis): string {
  const out: string[] = [];
  const boot = `boot ${d.boot.index} of ${d.boot.count}, lines ${d.boot.firstLine}-${d.boot.lastLine}${d.boot.latest ? '' : '; a newer boot has only started'}`;
  out.push(d.lines === 0 ? `${d.category} (${d.severity}): the console log is empty` : `${d.category} (${d.severity}) in ${boot}`);
  out.push(d.summary);
  if (d.code !== undefined) out.push(`code: ${d.code}${d.codeName ? ` ${d.codeName}` : ''}`);
  const width = String(Math.max(d.lines, 1)).length;
  const show = (l: EvidenceLine) => `  ${String(l.line).padStart(width)} | ${l.text}`;
  if (d.evidence.lines.length > 0) {
    out.push('', 'evidence:', ...d.evidence.lines.map(show));
    if (d.evidence.context.lines.length > 0) out.push(d.evidence.context.kind === 'call-trace' ? 'call trace:' : 'around it:', ...d.evidence.context.lines.map(show));
  }
  if (d.findings.length > 1 || (d.findings.length === 1 && d.category === 'healthy')) {
    out.push('', 'findings:');
    for (const f of d.findings) out.push(`  line ${String(f.line).padStart(width)}  ${f.category} (${f.severity})${f.count > 1 ? ` x${f.count}` : ''}${f.continued ? ', boot continued' : ''}: ${f.summary}`);
  }
  return `${out.join('\n')}\n`;
}
