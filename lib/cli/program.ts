import { Command, CommanderError } from 'commander';
import { registerConsoles } from './commands/consoles.ts';
import { registerDiagnose } from './commands/diagnose.ts';
import { registerLogs } from './commands/logs.ts';
import { CliUsageError, EXIT_OK, EXIT_USAGE, type CliIo } from './io.ts';

export const CLI_VERSION = '0.1.0';

/**
 * `vmconsole`, the project's own command line. Each command is a file in lib/cli/commands/ exporting
 * `register<Name>(program, io, done)`; add one by adding its line here. A command's action reports its
 * exit code through `done` rather than exiting, so runCli can be called from tests and other code.
 */
export function buildProgram(io: CliIo, done: (code: number) => void): Command {
  const program = new Command('vmconsole')
    .description('vmconsole command line: work with guest consoles from a shell.')
    .version(CLI_VERSION, '-V, --version')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError('(vmconsole --help for usage)');
  registerDiagnose(program, io, done);
  registerLogs(program, io, done);
  registerConsoles(program, io, done);
  return program;
}

/** Runs one command line (without node and the script) and resolves to the process exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT_OK;
  const program = buildProgram(io, (c) => (code = c));
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
    if (err instanceof CliUsageError) {
      io.stderr.write(`vmconsole: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
