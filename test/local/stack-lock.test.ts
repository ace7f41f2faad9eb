import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/local/ports.ts';
import { processInfo } from '../../lib/local/processes.ts';
import { claimStack } from '../../lib/local/stack-lock.ts';
import { readStackEnv, writeStackEnv, JOIN_VARIABLES } from '../../lib/local/stack-env.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-lock-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A sleeping process in a group of its own, as the stack's children are. */
async function sleeper(env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn('sleep', ['60'], { detached: true, stdio: 'ignore', env: { ...process.env, ...env } });
  await once(child, 'spawn');
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  return child;
}

describe('claiming a work dir for a stack', () => {
  it('refuses while the stack recorded there runs, naming its pid and port', async () => {
    const dir = await workDir();
    const first = await claimStack(dir, 0);
    cleanups.push(async () => first.release());
    await expect(claimStack(dir, 0)).rejects.toThrow(`a vmconsole stack is already running from ${dir}: pid ${process.pid}, HTTP API on port ${first.port}`);
    first.release();
    const next = await claimStack(dir, 0);
    next.release();
  });

  it('stops the children a dead stack left behind, and only processes that carry its stack id', async () => {
    const dir = await workDir();
    const dead = spawn('true');
    await once(dead, 'exit');
    const orphan = await sleeper({ VMCONSOLE_STACK_ID: 'old-stack' });
    const stranger = await sleeper();
    const orphanExit = once(orphan, 'exit');
    await writeFile(join(dir, 'stack.json'), JSON.stringify({ pid: dead.pid, startTime: 1, port: 4000, stackId: 'old-stack', groups: [orphan.pid, stranger.pid] }));

    const claim = await claimStack(dir, 0);
    cleanups.push(async () => claim.release());
    expect(claim.cleaned).toEqual([orphan.pid]);
    expect(await orphanExit).toEqual([null, 'SIGKILL']);
    expect(processInfo(stranger.pid!)).toBeDefined();
    expect(JSON.parse(await readFile(join(dir, 'stack.json'), 'utf8'))).toMatchObject({ pid: process.pid, port: claim.port, groups: [] });
  });

  it('names the holder of a busy port', async () => {
    const port = await freePort();
    const holder = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(Number(process.argv[1]), '127.0.0.1', () => console.log('up'))", String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(async () => {
      holder.kill();
      await once(holder, 'exit');
    });
    await once(holder.stdout!, 'data');
    const dir = await workDir();
    await expect(claimStack(dir, port)).rejects.toThrow(`port ${port} is already in use by pid ${holder.pid} (${process.execPath} -e`);
    // Refused, so the dir is not held.
    (await claimStack(dir, 0)).release();
  });
});

describe('stack.env', () => {
  it('round-trips the join variables and refuses a value the shell would split', async () => {
    const dir = await workDir();
    const env = Object.fromEntries(JOIN_VARIABLES.map((name) => [name, `value-of-${name}`]));
    await writeStackEnv(join(dir, 'stack.env'), { ...env, UNRELATED: 'x' });
    expect(await readStackEnv(join(dir, 'stack.env'))).toEqual(env);
    await expect(writeStackEnv(join(dir, 'bad.env'), { ...env, VMCONSOLE_TABLE: 'two words' })).rejects.toThrow('cannot write VMCONSOLE_TABLE="two words"');
  });
});
