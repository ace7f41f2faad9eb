import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync, closeSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { prepareEmbeddedEnv, startEmbeddedAws, type EmbeddedAws } from './embedded-aws.ts';
import { DEMO_SERVERS, writeDemoInstances } from './demo-servers.ts';
import { AGENT_COMMAND } from '../agent/agent-command.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OSLS = join(ROOT, 'node_modules/osls/bin/serverless.js');
/** How an agent process is started: as `npm run agent` and the installed bin do (lib/agent/agent-command.ts). */
export { AGENT_COMMAND };

export interface LocalStackOptions {
  /** HTTP API port; 0 picks a free one. */
  httpPort?: number;
  /** Where demo instances live; defaults to .vmconsole/demo under the project. */
  workDir?: string;
  replyTimeoutMs?: number;
  heartbeatMs?: number;
  authMode?: 'noauth' | 'jwt';
  /** Persist SQS queues here, so tests can take SQS away and bring it back with its queues. */
  sqsDataDir?: string;
  /** Overrides for the agent's environment, e.g. the libvirt driver for system tests. */
  agentEnv?: Record<string, string>;
  jwtSecret?: string;
}

export interface LocalStack {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:4000 (the Nova endpoint is `${url}/v2.1`). */
  url: string;
  aws: EmbeddedAws;
  /** Environment for more processes that should join this stack (agents, clients). */
  env: Record<string, string>;
  host: string;
  instancesDir: string;
  directory: Directory;
  demoServers: typeof DEMO_SERVERS;
  agent: ChildProcess;
  /** Where the children's output goes: agent.log, offline.log. */
  workDir: string;
  /** Start one more agent process (e.g. after killing one); resolves once it is serving. */
  startAgent(extraEnv?: Record<string, string>): Promise<ChildProcess>;
  stop(): Promise<void>;
}

/**
 * The whole system on one machine, started the same way for `npm start` and for the tests:
 * embedded fauxqs + dynalite, one host agent (files driver over real boot logs), and the HTTP
 * API through osls + serverless-offline running the real handlers.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const workDir = options.workDir ?? join(ROOT, '.vmconsole/demo');
  const instancesDir = join(workDir, 'instances');
  await mkdir(workDir, { recursive: true });
  await writeDemoInstances(instancesDir);

  const aws = await startEmbeddedAws(options.sqsDataDir === undefined ? {} : { sqsDataDir: options.sqsDataDir });
  const children: ChildProcess[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  const stop = async () => {
    await Promise.all(children.map(terminate));
    await aws.stop();
    await Promise.all(cleanups.map((cleanup) => cleanup()));
  };
  try {
    const host = options.agentEnv?.VMCONSOLE_HOST ?? 'demo-host-1';
    const [httpPort, lambdaPort] = await Promise.all([
      options.httpPort === undefined || options.httpPort === 0 ? freePort() : options.httpPort,
      freePort(),
    ]);
    const env: Record<string, string> = {
      ...(await prepareEmbeddedEnv(aws, 'local')),
      VMCONSOLE_REPLY_TIMEOUT_MS: String(options.replyTimeoutMs ?? 10_000),
      VMCONSOLE_AUTH_MODE: options.authMode ?? 'noauth',
      VMCONSOLE_JWT_SECRET: options.jwtSecret ?? '',
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
    };
    const directory = new Directory(createDocumentClient({ ...process.env, ...env }), env.VMCONSOLE_TABLE!);

    const agentEnv = {
      ...env,
      VMCONSOLE_HOST: host,
      VMCONSOLE_DRIVER: 'files',
      VMCONSOLE_INSTANCES_DIR: instancesDir,
      VMCONSOLE_LOG_ROOTS: instancesDir,
      VMCONSOLE_HEARTBEAT_MS: String(options.heartbeatMs ?? 5_000),
      ...options.agentEnv,
    };
    const startAgent = async (extraEnv: Record<string, string> = {}) => {
      const startedAt = Date.now();
      const child = spawnChild(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), { ...agentEnv, ...extraEnv }, join(workDir, 'agent.log'));
      children.push(child);
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`agent exited with code ${child.exitCode} (see ${join(workDir, 'agent.log')})`);
        const record = await directory.getHost(extraEnv.VMCONSOLE_HOST ?? host);
        return record !== undefined && record.heartbeatAt >= startedAt;
      }, 30_000, 'the agent to register its host');
      return child;
    };
    const agent = await startAgent();

    // serverless-esbuild builds under the project; stacks started side by side must not share it.
    const esbuildFolder = `.esbuild/stack-${randomUUID().slice(0, 8)}`;
    cleanups.push(() => rm(join(ROOT, esbuildFolder), { recursive: true, force: true }));
    const offline = spawnChild(process.execPath, [OSLS, 'offline', 'start', '--stage', 'local', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort)], { ...env, VMCONSOLE_ESBUILD_FOLDER: esbuildFolder }, join(workDir, 'offline.log'));
    children.push(offline);
    const url = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => {
      if (offline.exitCode !== null) throw new Error(`serverless-offline exited with code ${offline.exitCode} (see ${join(workDir, 'offline.log')})`);
      const res = await fetch(`${url}/v2.1/`).catch(() => undefined);
      return res?.status === 200;
    }, 90_000, 'serverless-offline to serve the API');

    return { url, aws, env, host, instancesDir, workDir, directory, demoServers: DEMO_SERVERS, agent, startAgent, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Children log to a file: a pipe nobody reads would stall them, and a file survives for debugging. */
function spawnChild(command: string, args: string[], env: Record<string, string>, logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    // Own process group, so stopping the stack also stops what the child started (esbuild, workers).
    return spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
