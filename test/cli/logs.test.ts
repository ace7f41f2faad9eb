/**
 * `vmconsole logs` and `vmconsole consoles` as a user runs them: the real CLI process against the
 * `npm start` stack (serverless-offline, the demo agent keeping console history in fauxqs's S3),
 * through the CLI's one client: servers by name or UUID, the documented exit codes, --json, the
 * progress line in a terminal.
 */
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastLines, printable } from '../../lib/cli/commands/logs.ts';
import { CLI_LAUNCHERS, cliEnv, runCli } from '../helpers/cli-process.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { waitFor } from '../helpers/wait.ts';

describe('vmconsole logs / consoles against npm start', () => {
  // serverless-offline cold-loads every function's bundle: on a shared, loaded machine the start
  // takes longer than useLocalStack's minute.
  const rel = {} as TestStack;
  let env: Record<string, string>;
  let scratch: string;
  beforeAll(async () => {
    Object.assign(rel, await startTestStack('cli-logs'));
    env = { VMCONSOLE_URL: rel.stack.url, VMCONSOLE_TOKEN: 'demo:demo' };
    scratch = await mkdtemp(join(tmpdir(), 'vmconsole-cli-logs-'));
  }, 240_000);
  afterAll(async () => {
    await rel.stop?.();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });
  const cli = (args: string[]) => runCli(args, { env, cwd: scratch });

  it('prints the whole history byte for byte with --raw (server by name), and the last lines as text (by UUID)', async () => {
    const server = rel.stack.demoServers[0]!;
    const log = await readFile(join(rel.stack.instancesDir, server.id, 'console.log'));
    const raw = await cli(['logs', server.name, '--raw']);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdoutBytes.equals(log)).toBe(true);
    const tail = await cli(['logs', server.id, '--lines', '3']);
    expect(tail.code, tail.stderr).toBe(0);
    expect(tail.stdout).toBe(printable(lastLines(log, 3).toString()));
  });

  it('--json prints each page as a JSON line naming the server, the bytes in base64', async () => {
    const server = rel.stack.demoServers[0]!;
    const log = await readFile(join(rel.stack.instancesDir, server.id, 'console.log'));
    const run = await cli(['logs', server.name, '--since', '0', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const pages = run.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(pages[0]).toMatchObject({ server: { id: server.id, name: server.name }, offset: 0, format: 'raw' });
    expect(Buffer.concat(pages.map((p) => Buffer.from(p.data, 'base64'))).equals(log)).toBe(true);
  });

  it('--follow prints a line written to the guest log, and Ctrl-C ends the follow with 0', async () => {
    const server = rel.stack.demoServers[1]!;
    const out: Buffer[] = [];
    let stderr = '';
    const child = spawn(process.execPath, [...CLI_LAUNCHERS.checkout, 'logs', server.name, '--follow', '--lines', '1'], { env: cliEnv(env), cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(async () => Buffer.concat(out).length > 0, 30_000, 'the last line before following');
    const line = `followed line ${Date.now()}\n`;
    await appendFile(join(rel.stack.instancesDir, server.id, 'console.log'), line);
    await waitFor(async () => Buffer.concat(out).toString().includes(line), 15_000, `the CLI to print the new line (stderr: ${stderr})`);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('--follow survives its host going away: the agent stops (maintenance), comes back, and the follow prints what was written meanwhile', async () => {
    const server = rel.stack.demoServers[1]!;
    const out: Buffer[] = [];
    let stderr = '';
    const child = spawn(process.execPath, [...CLI_LAUNCHERS.checkout, 'logs', server.id, '--follow', '--lines', '1'], { env: cliEnv(env), cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(async () => Buffer.concat(out).length > 0, 30_000, 'the last line before following');
      const agent = rel.stack.agent;
      const agentExited = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill('SIGTERM');
      await agentExited;
      const line = `written while the host was away ${Date.now()}\n`;
      await appendFile(join(rel.stack.instancesDir, server.id, 'console.log'), line);
      // Long enough for the follow to ask the host that is gone at least once.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(child.exitCode).toBeNull();
      rel.stack.agent = await rel.stack.startAgent();
      await waitFor(async () => Buffer.concat(out).toString().includes(line), 45_000, `the follow to print the line after the host came back (stderr: ${stderr})`);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  }, 120_000);

  it('shows a progress line on a terminal while the history downloads to a file, and erases it', async () => {
    const server = rel.stack.demoServers[0]!;
    const file = join(scratch, 'web-1.log');
    const command = [process.execPath, ...CLI_LAUNCHERS.installed, 'logs', server.name, '--since', '0', '--raw'].map((s) => `'${s}'`).join(' ');
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qfec', `${command} > '${file}'`, '/dev/null'], { cwd: scratch, env: cliEnv({ TERM: 'xterm', ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`))));
      child.stdin.end();
    });
    expect(output).toMatch(/\rconsole of web-1 {2}\d+(\.\d)? (B|KiB) \/ \d+(\.\d)? (B|KiB) {2}\d+% {2}[^\r]*\/s\x1b\[K/);
    expect(output.endsWith('\r\x1b[K')).toBe(true);
    expect((await readFile(file)).equals(await readFile(join(rel.stack.instancesDir, server.id, 'console.log')))).toBe(true);
  });

  it('lists consoles; an unknown server is exit 3, missing configuration exit 78', async () => {
    const server = rel.stack.demoServers[0]!;
    const list = await cli(['consoles', server.name, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ server: { id: server.id, name: server.name }, consoles: [{ port: 0, history: true }], incomplete: false });
    const table = await cli(['consoles', server.id]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^PORT {2}NAME {4}HISTORY {2}NEXT OFFSET\n0 {5}/);
    const unknown = await cli(['logs', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('ServerNotFound');
    const unknownJson = await cli(['consoles', 'no-such-server', '--json']);
    expect(unknownJson.code).toBe(3);
    expect(JSON.parse(unknownJson.stderr)).toMatchObject({ error: { code: 'ServerNotFound', exitCode: 3 } });
    const badPort = await cli(['logs', server.name, '--port', '99']);
    expect(badPort.code).toBe(2);
    const unset = await runCli(['consoles', server.name], { cwd: scratch });
    expect(unset.code).toBe(78);
    expect(unset.stderr).toContain('VMCONSOLE_URL');
  });
});
