import { Option, type Command } from 'commander';
import { connect } from '../client/vmconsole-client.ts';
import { CliError, EXIT_API, EXIT_OK, type CliIo } from '../io.ts';

/** Nova's remote console types (compute API "Create Remote Console", microversion 2.6). */
export const REMOTE_CONSOLES = {
  novnc: { protocol: 'vnc', type: 'novnc' },
  spice: { protocol: 'spice', type: 'spice-html5' },
  serial: { protocol: 'serial', type: 'serial' },
} as const;
export type RemoteConsoleKind = keyof typeof REMOTE_CONSOLES;

/** The microversion that added POST /servers/{id}/remote-consoles. */
export const REMOTE_CONSOLES_MICROVERSION = '2.6';

interface RemoteConsole {
  remote_console: { protocol: string; type: string; url: string };
}

/** A configured OS_COMPUTE_API_VERSION of 2.6 or later is kept; anything older cannot ask for remote consoles. */
function microversionFor(configured: string | undefined): string {
  const m = configured === undefined ? undefined : /^2\.(\d+)$/.exec(configured.trim());
  return m && Number(m[1]) >= 6 ? configured!.trim() : REMOTE_CONSOLES_MICROVERSION;
}

/**
 * `vmconsole url <server> --novnc|--spice|--serial`: Nova's POST /v2.1/servers/{id}/remote-consoles
 * (microversion 2.6) with `{"remote_console": {"protocol", "type"}}`; prints the URL a browser (or
 * a websocket client, for serial) opens. Nova's faults come back in Nova's words: 400 for a console
 * type the server has not (Unavailable console type), 404 for a server that is gone, 409 for one
 * not ready, 406 when the API does not offer microversion 2.6.
 */
export function registerUrl(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('url')
    .description("Print a URL to a server's remote console (Nova's remote-consoles API).")
    .argument('<server>', 'server name or UUID')
    .addOption(new Option('--novnc', 'a noVNC URL (VNC graphics; the default)').conflicts(['spice', 'serial']))
    .addOption(new Option('--spice', 'a SPICE HTML5 URL').conflicts(['novnc', 'serial']))
    .addOption(new Option('--serial', 'a websocket URL to the interactive serial console').conflicts(['novnc', 'spice']))
    .option('--json', 'print {"server": {...}, "remote_console": {"protocol", "type", "url"}}')
    .addHelpText('after', `
Examples:
  vmconsole url web-1 --novnc
  vmconsole url web-1 --serial --json`)
    .action(async (ref: string, options: { novnc?: boolean; spice?: boolean; serial?: boolean; json?: boolean }, command: Command) => {
      const kind: RemoteConsoleKind = options.spice ? 'spice' : options.serial ? 'serial' : 'novnc';
      const client = await connect(command, io);
      const server = await client.resolveServer(ref);
      const what = `${kind} console of ${server.name}`;
      let answer: RemoteConsole;
      try {
        answer = await client.json<RemoteConsole>(`/v2.1/servers/${encodeURIComponent(server.id)}/remote-consoles`, {
          method: 'POST',
          body: { remote_console: REMOTE_CONSOLES[kind] },
          microversion: microversionFor(client.computeApiVersion),
          what,
        });
      } catch (err) {
        if (err instanceof CliError && err.status === 406) {
          throw new CliError(EXIT_API, `${what}: this API does not offer remote consoles (compute API microversion ${REMOTE_CONSOLES_MICROVERSION} or later)`, { code: 'NotAcceptable', requestId: err.requestId });
        }
        throw err;
      }
      const url = answer?.remote_console?.url;
      if (typeof url !== 'string' || !/^(https?|wss?):\/\//.test(url)) throw new CliError(EXIT_API, `${what}: the API answered without a console URL`);
      io.stdout.write(options.json ? `${JSON.stringify({ server, remote_console: answer.remote_console }, null, 2)}\n` : `${url}\n`);
      done(EXIT_OK);
    });
}
