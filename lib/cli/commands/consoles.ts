import type { Command } from 'commander';
import { ApiError, consoleApiFromEnv, serverIdArgument } from '../console-api.ts';
import { EXIT_OK, EXIT_PROBLEM_FOUND, type CliIo } from '../io.ts';

/** `vmconsole consoles <server>`: the server's consoles that have a log (GET .../consoles). */
export function registerConsoles(program: Command, io: CliIo, done: (code: number) => void, env: NodeJS.ProcessEnv = process.env): void {
  program
    .command('consoles')
    .description('List a server\'s consoles (serial ports) that have a log, and their history offsets.')
    .argument('<server>', 'server id (UUID)', serverIdArgument)
    .option('--json', 'print the API\'s answer as JSON')
    .addHelpText('after', `
Configuration: VMCONSOLE_URL (the API's base URL) and VMCONSOLE_TOKEN.
Exit codes: 0 listed, 1 the API refused (its code on stderr), 2 usage error.`)
    .action(async (server: string, options: { json?: boolean }) => {
      const api = consoleApiFromEnv(env);
      try {
        const { json } = await api.get(`/servers/${server}/consoles`, {});
        if (options.json) io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
        else {
          io.stdout.write('PORT  NAME    HISTORY  NEXT OFFSET\n');
          for (const c of json.consoles as { port: number; name: string | null; history: boolean; next: number | null }[]) {
            io.stdout.write(`${String(c.port).padEnd(6)}${(c.name ?? '-').padEnd(8)}${(c.history ? 'yes' : 'no').padEnd(9)}${c.next ?? '-'}\n`);
          }
          if (json.incomplete) io.stderr.write('vmconsole: the server\'s host could not be asked: consoles may be missing\n');
        }
        done(EXIT_OK);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        io.stderr.write(`vmconsole: ${err.code}: ${err.message}\n`);
        done(EXIT_PROBLEM_FOUND);
      }
    });
}
