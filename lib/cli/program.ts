import { Command, CommanderError } from 'commander';
import { addConnectionOptions } from './client/vmconsole-client.ts';
import { registerConsoles } from './commands/consoles.ts';
import { registerDiagnose } from './commands/diagnose.ts';
import { registerLogs } from './commands/logs.ts';
import { registerScreenshot } from './commands/screenshot.ts';
import { registerUrl } from './commands/url.ts';
import { CliError, EXIT_CODES_HELP, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, type CliIo } from './io.ts';

export const CLI_VERSION = '0.1.0';

const CONFIG_HELP = `
Configuration (the first that is set wins):
  --url/VMCONSOLE_URL and --token/VMCONSOLE_TOKEN   vmconsole directly (npm start: http://127.0.0.1:4000, token demo:demo)
  --os-*/OS_* options, then --os-cloud/OS_CLOUD     as the openstack CLI: Keystone v3 (password, token,
                                                    application credential), admin_token, none; clouds.yaml from
                                                    OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/, /etc/openstack/

${EXIT_CODES_HELP}

With --json, output is JSON on stdout and an error is one JSON object on stderr:
  {"error": {"code", "message", "exitCode", "requestId"?}}`;

/**
 * `vmconsole`, the project's own command line. Each command is a file in lib/cli/commands/ exporting
 * `register<Name>(program, io, done)`; add one by adding its line here. A command's action reports its
 * exit code through `done` rather than exiting, so runCli can be called from tests and other code.
 * Commands that talk to vmconsole get their client from `connect(command, io)`
 * (lib/cli/client/vmconsole-client.ts) and throw CliError (io.ts) for every failure.
 */
export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('vmconsole')
    .description('vmconsole command line: work with guest consoles from a shell.')
    .version(CLI_VERSION, '-V, --version')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError('(vmconsole --help for usage)')
    .addHelpText('after', CONFIG_HELP);
  addConnectionOptions(program);
  registerDiagnose(program, io, done);
  registerScreenshot(program, io, done);
  registerUrl(program, io, done);
  registerLogs(program, io, done);
  registerConsoles(program, io, done);
  return program;
}

/** The `code` of a JSON error the API did not name. */
const CODE_BY_EXIT: Record<number, string> = { 2: 'Usage', 3: 'NotFound', 4: 'AmbiguousName', 5: 'Unauthorized', 6: 'ApiError', 7: 'Network', 70: 'Internal', 78: 'Configuration', 130: 'Interrupted' };

function report(err: CliError, io: CliIo, json: boolean): void {
  // Ctrl-C: the terminal showed ^C; nothing to add, in either format.
  if (err.exitCode === EXIT_INTERRUPTED) return;
  if (json) {
    const error = { code: err.code ?? CODE_BY_EXIT[err.exitCode] ?? 'Error', message: err.message, exitCode: err.exitCode, ...(err.requestId && { requestId: err.requestId }) };
    io.stderr.write(`${JSON.stringify({ error })}\n`);
    return;
  }
  const extra = [err.code, err.requestId && `request ${err.requestId}`].filter(Boolean).join(', ');
  io.stderr.write(`vmconsole: ${err.message}${extra ? ` (${extra})` : ''}\n`);
}

/** Runs one command line (without node and the script) and resolves to the process exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT_OK;
  const program = buildProgram(io, (c) => (code = c));
  const json = args.includes('--json');
  try {
    if (args.length === 0) {
      program.outputHelp();
      return EXIT_USAGE;
    }
    await program.parseAsync([...args], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through exitOverride too, with exit code 0.
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof CliError) {
      report(err, io, json);
      return err.exitCode;
    }
    if (io.signal?.aborted) return EXIT_INTERRUPTED;
    const env = io.env ?? process.env;
    report(new CliError(EXIT_INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`, { code: 'Internal' }), io, json);
    if (env.VMCONSOLE_DEBUG) io.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    return EXIT_INTERNAL;
  }
}
