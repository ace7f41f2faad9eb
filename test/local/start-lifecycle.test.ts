import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/local/ports.ts';
import { processInfo, portListeners } from '../../lib/local/processes.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/**
 * `npm start` as a user runs it: the real `node lib/local/start.ts` process, stopped the ways a
 * terminal or a crash stops it. Its children must not outlive it.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START = join(ROOT, 'lib/local/start.ts');

interface Started {
  process: ChildProcess;
  output(): string;
  exited: Promise<unknown>;
}

const running: Started[] = [];
const workDirs: string[] = [];

async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-start-'));
  workDirs.push(dir);
  return dir;
}

function start(args: string[]): Started {
  const child = spawn(process.execPath, [START, ...args], { cwd: ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'WARN' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const started = { process: child, output: () => output, exited: once(child, 'exit') };
  running.push(started);
  return started;
}

async function untilReady(started: Started): Promise<void> {
  const until = Date.now() + 150_000;
  while (!started.output().includes('Ctrl-C stops everything')) {
    if (started.process.exitCode !== null) throw new Error(`npm start exited early:\n${started.output()}`);
    if (Date.now() > until) throw new Error(`npm start not ready:\n${started.output()}`);
    await sleep(200);
  }
}

/** The stack's children, from the record npm start keeps in its work dir. */
async function childGroups(dir: string): Promise<number[]> {
  return (JSON.parse(await readFile(join(dir, 'stack.json'), 'utf8')) as { groups: number[] }).groups;
}

function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  for (const started of running.splice(0)) {
    if (started.process.exitCode === null && started.process.signalCode === null) started.process.kill('SIGTERM');
    await started.exited;
  }
});
afterAll(async () => {
  await Promise.all(workDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('npm start', () => {
  it('refuses a busy port at once, naming the port and the process holding it', async () => {
    const port = await freePort();
    const holder = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'))", String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(holder.stdout!, 'data');
      const began = Date.now();
      const started = start(['--port', String(port), '--work-dir', await workDir()]);
      const [code] = (await started.exited) as [number];
      const elapsed = Date.now() - began;
      expect(code).toBe(1);
      expect(started.output()).toContain(`port ${port} is already in use by pid ${holder.pid} (`);
      // Node's own start-up included; under a loaded machine this is the part that varies.
      expect(elapsed).toBeLessThan(5_000);
      console.info(`busy port refused in ${elapsed} ms (process start to exit)`);
    } finally {
      holder.kill();
    }
  });

  it('refuses a second stack in the same work dir at once, naming the first; the first dies with SIGHUP and takes its children along', async () => {
    const dir = await workDir();
    const port = await freePort();
    const first = start(['--port', String(port), '--work-dir', dir]);
    await untilReady(first);
    const groups = await childGroups(dir);
    // The agent, the console relay (remote consoles) and serverless-offline.
    expect(groups).toHaveLength(3);

    const began = Date.now();
    const second = start(['--port', String(await freePort()), '--work-dir', dir]);
    const [code] = (await second.exited) as [number];
    expect(code).toBe(1);
    expect(second.output()).toContain(`already running from ${dir}: pid ${first.process.pid}, HTTP API on port ${port}`);
    expect(Date.now() - began).toBeLessThan(5_000);

    first.process.kill('SIGHUP');
    await first.exited;
    await waitFor(() => groups.every((group) => !groupAlive(group)), 10_000, 'every child process group of the stack to be gone');
    expect(portListeners(port)).toEqual([]);
  }, 180_000);

  it('leaves nothing running when it is killed outright (SIGKILL); its record does not block the next start', async () => {
    const dir = await workDir();
    const port = await freePort();
    const first = start(['--port', String(port), '--work-dir', dir]);
    await untilReady(first);
    const groups = await childGroups(dir);
    const serving = portListeners(port);
    expect(serving.length).toBeGreaterThan(0);
    expect(groups).toContain(serving[0]!.group);

    first.process.kill('SIGKILL');
    await first.exited;
    // The watchdog's grace for a SIGTERM-deaf child is 5 s.
    await waitFor(() => groups.every((group) => !groupAlive(group)), 10_000, 'every child process group of the stack to be gone');
    expect(groups.map(processInfo)).toEqual(groups.map(() => undefined));
    expect(portListeners(port)).toEqual([]);

    // The dead stack's record does not block the next start: with the port taken by someone
    // else, it gets as far as the port check.
    const squatter = createServer().listen(port, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const next = start(['--port', String(port), '--work-dir', dir]);
      await next.exited;
      expect(next.output()).toContain(`port ${port} is already in use by pid ${process.pid} (`);
    } finally {
      squatter.close();
    }
  }, 180_000);
});
