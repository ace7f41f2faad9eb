/**
 * `vmconsole logs` and `vmconsole consoles` as a user runs them: the real CLI process against the
 * `npm start` stack (serverless-offline, the demo agent keeping console history in fauxqs's S3).
 */
import { spawn } from 'node:child_process';
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastLines, printable } from '../../lib/cli/commands/logs.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { waitFor } from '../helpers/wait.ts';

const CLI = ['lib/cli/main.ts'];

function runCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stdout: () => Buffer.concat(out), stderr: () => Buffer.concat(err).toString() };
}

describe('vmconsole logs / consoles against npm start', () => {
  // serverless-offline cold-loads every function's bundle: on a shared, loaded machine the start
  // takes longer than useLocalStack's minute.
  const rel = {} as TestStack;
  beforeAll(async () => {
    Object.assign(rel, await startTestStack('cli-logs'));
  }, 240_000);
  afterAll(() => rel.stop?.());

  it('prints the whole history byte for byte with --raw, and the last lines as text', async () => {
    const { stack } = rel;
    const env = { VMCONSOLE_URL: stack.url, VMCONSOLE_TOKEN: 'demo:demo' };
    const server = stack.demoServers[0]!;
    const log = await readFile(join(stack.instancesDir, server.id, 'console.log'));
    const raw = runCli(['logs', server.id, '--raw'], env);
    expect(await raw.exited).toBe(0);
    expect(raw.stdout().equals(log)).toBe(true);
    const tail = runCli(['logs', server.id, '--lines', '3'], env);
    expect(await tail.exited).toBe(0);
    expect(tail.stdout().toString()).toBe(printable(lastLines(log, 3).toString()));
  });

  it('--follow prints a line written to the guest log, and Ctrl-C exits cleanly', async () => {
    const { stack } = rel;
    const server = stack.demoServers[1]!;
    const follow = runCli(['logs', server.id, '--follow', '--lines', '1'], { VMCONSOLE_URL: stack.url, VMCONSOLE_TOKEN: 'demo:demo' });
    await waitFor(async () => follow.stdout().length > 0, 30_000, 'the last line before following');
    const line = `followed line ${Date.now()}\n`;
    await appendFile(join(stack.instancesDir, server.id, 'console.log'), line);
    await waitFor(async () => follow.stdout().toString().includes(line), 15_000, `the CLI to print the new line (stderr: ${follow.stderr()})`);
    follow.child.kill('SIGINT');
    expect(await follow.exited).toBe(0);
  });

  it('lists consoles, and says why for an unknown server, a bad id and missing configuration', async () => {
    const { stack } = rel;
    const env = { VMCONSOLE_URL: stack.url, VMCONSOLE_TOKEN: 'demo:demo' };
    const list = runCli(['consoles', stack.demoServers[0]!.id, '--json'], env);
    expect(await list.exited).toBe(0);
    expect(JSON.parse(list.stdout().toString())).toMatchObject({ consoles: [{ port: 0, history: true }], incomplete: false });
    const unknown = runCli(['logs', '00000000-0000-4000-8000-000000000000'], env);
    expect(await unknown.exited).toBe(1);
    expect(unknown.stderr()).toContain('ServerNotFound');
    const bad = runCli(['logs', 'not-a-uuid'], env);
    expect(await bad.exited).toBe(2);
    const unset = runCli(['consoles', stack.demoServers[0]!.id], { VMCONSOLE_URL: '', VMCONSOLE_TOKEN: '' });
    expect(await unset.exited).toBe(2);
    expect(unset.stderr()).toContain('VMCONSOLE_URL');
  });
});
