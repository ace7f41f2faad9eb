import type { Command } from 'commander';
import { connect } from '../client/vmconsole-client.ts';
import { EXIT_OK, type CliIo } from '../io.ts';

interface ConsolesAnswer {
  consoles: { port: number; name: string | null; history: boolean; next: number | null }[];
  incomplete?: boolean;
}

/** `vmconsole consoles <server>`: the server's consoles that have a log (GET /vmconsole/v1/servers/{id}/consoles). */
export function registerConsoles(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('consoles')
    .description('List a server\'s consoles (serial ports) that have a log, and their history offsets.')
    .argument('<server>', 'server name or UUID')
    .option('--json', 'print {"server": {...}, "consoles": [...], "incomplete"}')
    .action(async (ref: string, options: { json?: boolean }, command: Command) => {
      const client = await connect(command, io);
      const server = await client.resolveServer(ref);
      const answer = await client.json<ConsolesAnswer>(`/vmconsole/v1/servers/${encodeURIComponent(server.id)}/consoles`, { what: `consoles of ${server.name}` });
      if (options.json) {
        io.stdout.write(`${JSON.stringify({ server, ...answer }, null, 2)}\n`);
        return done(EXIT_OK);
      }
      io.stdout.write('PORT  NAME    HISTORY  NEXT OFFSET\n');
      for (const c of answer.consoles) {
        io.stdout.write(`${String(c.port).padEnd(6)}${(c.name ?? '-').padEnd(8)}${(c.history ? 'yes' : 'no').padEnd(9)}${c.next ?? '-'}\n`);
      }
      if (answer.incomplete) io.stderr.write('vmconsole: the server\'s host could not be asked: consoles may be missing\n');
      done(EXIT_OK);
    });
}
