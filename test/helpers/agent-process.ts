import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { enrolHost } from '../../lib/agent/enrol-host.ts';
import type { Directory } from '../../lib/directory/directory.ts';
import { AGENT_COMMAND } from '../../lib/local/local-stack.ts';
import { waitFor } from './wait.ts';

export interface AgentProcessOptions {
  host: string;
  /** Where the test sees the agent's heartbeat. */
  directory: Directory;
  /** The files driver over this directory (also the only log root); without it, `extraEnv` names the driver. */
  instancesDir?: string;
  /** stdout and stderr of the agent; without it only stderr is shown, on the test's own. */
  logFile?: string;
  heartbeatMs?: number;
  extraEnv?: Record<string, string>;
}

/** An agent on the files driver over `instancesDir`, which is also its only log root. */
export function filesDriverEnv(instancesDir: string): Record<string, string> {
  return { VMCONSOLE_DRIVER: 'files', VMCONSOLE_INSTANCES_DIR: instancesDir, VMCONSOLE_LOG_ROOTS: instancesDir };
}

/** Enrol `host` as an operator does before its agent starts (its queue and DLQ, lib/agent/enrol-host.ts). */
export function enrolTestHost(env: Record<string, string | undefined>, host: string): Promise<{ queueUrl: string; dlqUrl: string }> {
  return enrolHost(env, { host, hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX ?? 'vmconsole-host-' });
}

/**
 * A real agent process, started as installed (AGENT_COMMAND), joined to `env`'s SQS and DynamoDB,
 * its host enrolled first; resolves once it has heartbeated, which it does only after publishing
 * its inventory.
 */
export async function startAgentProcess(env: Record<string, string>, options: AgentProcessOptions): Promise<ChildProcess> {
  await enrolTestHost({ ...env, ...options.extraEnv }, options.host);
  const startedAt = Date.now();
  const fd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), {
      env: {
        // The child's own environment (PATH, HOME): the test's process.env is read, never written.
        ...process.env,
        ...env,
        VMCONSOLE_HOST: options.host,
        ...(options.instancesDir !== undefined && filesDriverEnv(options.instancesDir)),
        VMCONSOLE_HEARTBEAT_MS: String(options.heartbeatMs ?? 1_000),
        POWERTOOLS_LOG_LEVEL: 'WARN',
        ...options.extraEnv,
      },
      stdio: fd === undefined ? ['ignore', 'ignore', 'inherit'] : ['ignore', fd, fd],
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`agent ${options.host} exited with code ${child.exitCode}${options.logFile ? ` (see ${options.logFile})` : ''}`);
      const record = await options.directory.getHost(options.host);
      return record !== undefined && record.heartbeatAt >= startedAt;
    }, 30_000, `agent ${options.host} to register`);
  } catch (err) {
    await kill(child);
    throw err;
  }
  return child;
}

/** SIGKILL a child this test started, and wait until it is gone. */
export async function kill(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Whether a process still exists (signal 0 checks without touching it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
