import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { pngSize } from '../../console/screenshot-png.ts';
import { connect } from '../client/vmconsole-client.ts';
import { CliError, CliUsageError, EXIT_API, EXIT_OK, isTty, type CliIo } from '../io.ts';
import { startProgress } from '../progress.ts';

interface ScreenshotJson {
  screenshot: { serverId: string; contentType: 'image/png'; width: number; height: number; takenAt: string; bytes: number; data: string };
}

/**
 * `vmconsole screenshot <server> -o file.png`: GET /vmconsole/v1/servers/{id}/screenshot. The PNG is
 * asked for as image/png and written to a temporary file renamed into place, so a failed download
 * never leaves half a PNG (or clobbers an older one). `-o -` writes it to stdout, refused on a
 * terminal (binary on a screen). `--json` without `-o` prints the API's JSON (the PNG in base64).
 */
export function registerScreenshot(program: Command, io: CliIo, done: (code: number) => void): void {
  program
    .command('screenshot')
    .description("Save a PNG of a server's screen (guests with graphics: 409 NoGraphics otherwise).")
    .argument('<server>', 'server name or UUID')
    .option('-o, --output <file>', 'where to write the PNG; - writes it to standard output (not on a terminal)')
    .option('--json', 'print JSON: with -o, what was saved; without, the screenshot with the PNG in base64')
    .addHelpText('after', `
Examples:
  vmconsole screenshot web-1 -o web-1.png
  vmconsole screenshot 3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01 -o - | display
  vmconsole screenshot web-1 --json | jq -r .screenshot.data | base64 -d > web-1.png`)
    .action(async (ref: string, options: { output?: string; json?: boolean }, command: Command) => {
      if (options.output === undefined && !options.json) return command.error('error: say where the PNG goes: -o file.png, or -o - for standard output (or --json)');
      if (options.output === '-' && isTty(io.stdout)) return command.error('error: standard output is a terminal; redirect it (-o - > file.png) or give a file');
      if (options.output === '-' && options.json) return command.error('error: -o - and --json both write to standard output; choose one');
      const client = await connect(command, io);
      const server = await client.resolveServer(ref);
      const path = `/vmconsole/v1/servers/${encodeURIComponent(server.id)}/screenshot`;
      const what = `screenshot of ${server.name}`;
      if (options.output === undefined) {
        const body = await client.json<ScreenshotJson>(path, { what });
        io.stdout.write(`${JSON.stringify({ server, ...body }, null, 2)}\n`);
        return done(EXIT_OK);
      }
      const res = await client.request(path, { what, accept: 'image/png' });
      const length = Number(res.headers.get('content-length'));
      const progress = startProgress(io.stderr, { label: what, total: Number.isFinite(length) && length > 0 ? length : undefined, json: options.json });
      let png: Buffer;
      try {
        png = await client.bytes(res, (n) => progress.advance(n));
      } finally {
        progress.done();
      }
      const size = pngSize(png);
      if (!size) throw new CliError(EXIT_API, `${what}: the API answered something that is not a PNG`);
      if (options.output === '-') {
        io.stdout.write(png);
        return done(EXIT_OK);
      }
      await writeAtomically(options.output!, png);
      if (options.json) io.stdout.write(`${JSON.stringify({ server, file: options.output, contentType: 'image/png', bytes: png.length, ...size }, null, 2)}\n`);
      else io.stdout.write(`${options.output}: ${size.width}x${size.height} PNG, ${png.length} bytes (${server.name}, ${server.id})\n`);
      done(EXIT_OK);
    });
}

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  const temporary = `${file}.${randomBytes(4).toString('hex')}.part`;
  try {
    await writeFile(temporary, bytes, { flag: 'wx' });
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such directory' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new CliUsageError(`cannot write ${file}: ${why}`);
  }
}
