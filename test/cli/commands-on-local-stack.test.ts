/**
 * The `vmconsole` commands as people run them (a real process, the installed bin) against the real
 * `npm start` stack (fauxqs, dynalite, agents, serverless-offline): configured with VMCONSOLE_URL
 * and VMCONSOLE_TOKEN as the README shows, servers by UUID or name, --json, exit codes, in a pipe
 * and in a real terminal (util-linux `script`). A second agent serves a libvirt host through
 * libvirt's test driver, whose guests with a VNC display give real PNGs through `virsh screenshot`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { CLI_LAUNCHERS, runCli, runCliInTerminal } from '../helpers/cli-process.ts';
import { testNodeAgentEnv, writeTestNode } from '../helpers/libvirt-test-node.ts';
import { requireToolsOrSkip } from '../helpers/require-tools.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';

const [web1, , , opsBastion] = DEMO_SERVERS;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const demo = { project: 'demo', user: 'demo' };
const screen = { id: randomUUID(), name: 'screen-1' };
// Regex metacharacters in a name: found only if the CLI escapes it into Nova's `name` filter.
const tricky = { id: randomUUID(), name: 'db (1)*.x' };
const twins = [randomUUID(), randomUUID()];

describe.runIf(requireToolsOrSkip(['virsh', 'script']))('vmconsole commands against the local stack', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'vmconsole-cli-stack-'));
  let t: TestStack;
  let env: Record<string, string>;

  // The stack's own start is slow on a loaded machine (serverless-offline loads every function).
  beforeAll(async () => {
    t = await startTestStack('cli-commands');
    const nodeFile = join(scratch, 'node.xml');
    const nova = (name: string) => ({ name, projectId: demo.project, userId: demo.user });
    await writeTestNode(nodeFile, [
      { name: 'instance-000000e1', uuid: screen.id, nova: nova(screen.name), graphics: true },
      { name: 'instance-000000e2', uuid: tricky.id, nova: nova(tricky.name), graphics: true },
      { name: 'instance-000000e3', uuid: twins[0]!, nova: nova('twin') },
      { name: 'instance-000000e4', uuid: twins[1]!, nova: nova('twin') },
      // The same name once with a regex meaning: 'db (1)*.x' as a pattern would match 'db .x'.
      { name: 'instance-000000e5', uuid: randomUUID(), nova: nova('db .x') },
    ]);
    await t.stack.startAgent({ VMCONSOLE_HOST: 'libvirt-test-1', ...testNodeAgentEnv(nodeFile, scratch) });
    env = { VMCONSOLE_URL: t.stack.url, VMCONSOLE_TOKEN: 'demo:demo' };
  }, 240_000);
  afterAll(async () => {
    await t?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const file = (name: string) => join(scratch, name);
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extra }, cwd: scratch });

  it('screenshot by name writes the PNG and says what it saved; by UUID the same picture', async () => {
    const run = await cli(['screenshot', screen.name, '-o', file('screen.png')]);
    expect(run, run.stderr).toMatchObject({ code: 0, stderr: '' });
    const png = readFileSync(file('screen.png'));
    expect(png.subarray(0, 8)).toEqual(PNG_MAGIC);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1120, 832]);
    expect(run.stdout).toBe(`${file('screen.png')}: 1120x832 PNG, ${png.length} bytes (screen-1, ${screen.id})\n`);
    const byId = await cli(['screenshot', screen.id, '-o', file('by-id.png')]);
    expect(byId.code).toBe(0);
    expect(readFileSync(file('by-id.png'))).toEqual(png);
    // Written to a temporary file and renamed: nothing else is left in the directory.
    expect(readdirSync(scratch).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('-o - writes the PNG bytes to a pipe; a name full of regex metacharacters is found as written', async () => {
    const run = await cli(['screenshot', tricky.name, '-o', '-']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdoutBytes.subarray(0, 8)).toEqual(PNG_MAGIC);
    expect(run.stderr).toBe('');
  });

  it('--json: without -o the API\'s JSON (the PNG in base64), with -o what was saved', async () => {
    const api = await cli(['screenshot', screen.name, '--json']);
    expect(api.code).toBe(0);
    const body = JSON.parse(api.stdout);
    expect(body).toMatchObject({ server: screen, screenshot: { serverId: screen.id, contentType: 'image/png', width: 1120, height: 832 } });
    expect(Buffer.from(body.screenshot.data, 'base64').subarray(0, 8)).toEqual(PNG_MAGIC);
    const saved = await cli(['screenshot', screen.name, '-o', file('json.png'), '--json']);
    expect(JSON.parse(saved.stdout)).toEqual({ server: screen, file: file('json.png'), contentType: 'image/png', bytes: readFileSync(file('json.png')).length, width: 1120, height: 832 });
  });

  it('a server without graphics (the files driver): exit 6 with NoGraphics, no file; with --json the error as JSON on stderr', async () => {
    const run = await cli(['screenshot', web1.name, '-o', file('none.png')]);
    expect(run.code).toBe(6);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^vmconsole: screenshot of web-1: This server has no screen: .* \(NoGraphics, request req-[0-9a-f-]{36}\)\n$/);
    expect(existsSync(file('none.png'))).toBe(false);
    const json = await cli(['screenshot', web1.id, '-o', file('none.png'), '--json']);
    expect(json.code).toBe(6);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'NoGraphics', message: expect.stringMatching(/no screen/), exitCode: 6, requestId: expect.stringMatching(/^req-/) } });
  });

  it('not found (3): an unknown name, an unknown UUID, another project\'s server', async () => {
    for (const ref of ['no-such-server', randomUUID(), opsBastion.id, opsBastion.name]) {
      const run = await cli(['screenshot', ref, '-o', file('x.png')]);
      expect(run.code, ref).toBe(3);
      expect(run.stderr).toBe(`vmconsole: No server with a name or ID of '${ref}' exists. (ServerNotFound)\n`);
    }
  });

  it('an ambiguous name (4) lists the servers it matches', async () => {
    const run = await cli(['screenshot', 'twin', '-o', file('x.png'), '--json']);
    expect(run.code).toBe(4);
    const { error } = JSON.parse(run.stderr);
    expect(error).toMatchObject({ code: 'AmbiguousName', exitCode: 4 });
    for (const id of twins) expect(error.message).toContain(id);
  });

  it('authentication (5), network (7), configuration (78), usage (2): one line on stderr, no stack', async () => {
    const noToken = await runCli(['screenshot', screen.name, '-o', file('x.png')], { env: { VMCONSOLE_URL: t.stack.url }, cwd: scratch });
    expect(noToken.code).toBe(5);
    expect(noToken.stderr).toMatch(/^vmconsole: looking up server screen-1: .*\(unauthorized/);
    const closed = await closedPort();
    const down = await runCli(['screenshot', screen.name, '-o', file('x.png')], { env: { VMCONSOLE_URL: `http://127.0.0.1:${closed}`, VMCONSOLE_TOKEN: 'demo:demo' }, cwd: scratch });
    expect(down).toMatchObject({ code: 7, stderr: `vmconsole: cannot reach http://127.0.0.1:${closed}: connection refused\n` });
    const unconfigured = await runCli(['screenshot', screen.name, '-o', file('x.png')], { cwd: scratch });
    expect(unconfigured.code).toBe(78);
    expect(unconfigured.stderr).toMatch(/^vmconsole: no configuration: set VMCONSOLE_URL/);
    const usage = await cli(['screenshot', screen.name]);
    expect(usage.code).toBe(2);
    for (const run of [noToken, down, unconfigured, usage]) expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('diagnose --server: the API\'s diagnosis of the real panic, exit 1; --json the API\'s answer', async () => {
    const run = await cli(['diagnose', '--server', web1.name]);
    expect(run.code, run.stderr).toBe(1);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^web-1 \\(${web1.id}\\): (new diagnosis|this crash was diagnosed at \\S+), [0-9a-f-]{36}$`));
    expect(lines[1]).toBe('kernel-panic (critical) in boot 1 of 1, lines 1-269');
    const json = await cli(['diagnose', '--server', web1.id, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ server: { id: web1.id, name: 'web-1' }, created: false, diagnosis: { serverId: web1.id, diagnosis: { category: 'kernel-panic' } } });
  });

  it('the checkout launcher (npm run vmconsole) behaves the same', async () => {
    const run = await runCli(['screenshot', screen.name, '-o', file('checkout.png')], { env, cwd: scratch, launcher: CLI_LAUNCHERS.checkout });
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(file('checkout.png')).subarray(0, 8)).toEqual(PNG_MAGIC);
  });

  describe('in a real terminal', () => {
    const term = (args: string[], extra: Record<string, string> = {}) => runCliInTerminal(args, { env: { ...env, ...extra }, cwd: scratch });

    it('shows a progress line on stderr while downloading, and erases it before the summary', async () => {
      const run = await term(['screenshot', screen.name, '-o', file('tty.png')]);
      expect(run.code, run.output).toBe(0);
      expect(run.output).toMatch(/\rscreenshot of screen-1 {2}\d+(\.\d)? KiB \/ \d+(\.\d)? KiB {2}100% {2}[^\r]*\/s\x1b\[K/);
      expect(run.output).toContain('\r\x1b[K');
      expect(run.output).toContain(`${file('tty.png')}: 1120x832 PNG`);
    });

    it('never with --json: the terminal gets the JSON only', async () => {
      const run = await term(['screenshot', screen.name, '-o', file('tty-json.png'), '--json']);
      expect(run.code).toBe(0);
      expect(run.output).not.toContain('\x1b[K');
      expect(JSON.parse(run.output.replace(/\r\n/g, '\n'))).toMatchObject({ server: screen, width: 1120 });
    });

    it('-o - to a terminal is refused (exit 2): binary on a screen helps nobody', async () => {
      const run = await term(['screenshot', screen.name, '-o', '-']);
      expect(run.code).toBe(2);
      expect(run.output).toContain('standard output is a terminal');
      expect(run.output).not.toContain('PNG');
    });
  });
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
