import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertPortFree, freePort } from './ports.ts';
import { isRunning, processInfo } from './processes.ts';

/** Written in the work dir while a stack runs there: who runs it, on which port, with which children. */
interface StackRecord {
  pid: number;
  startTime: number;
  port: number;
  /** Set in every child's environment: tells our children from a process that reused a pid. */
  stackId: string;
  groups: number[];
}

export interface StackLock {
  workDir: string;
  stackId: string;
  /** The HTTP API's port, checked free. */
  port: number;
  /** Process groups of a dead stack's children that were still running and have been killed. */
  cleaned: number[];
  /** Record the children's process groups (and the port, once chosen) as they start. */
  update(change: Partial<Pick<StackRecord, 'port' | 'groups'>>): void;
  release(): void;
}

const FILE = 'stack.json';

function read(file: string): StackRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackRecord;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` was started by the stack `stackId` (its environment says so). */
function belongsTo(pid: number, stackId: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`VMCONSOLE_STACK_ID=${stackId}`);
  } catch {
    return false;
  }
}

/**
 * Take the work dir for one stack. A live stack there is named (pid, port) and refused; the
 * children a dead one left behind (its watchdog killed too) are stopped, since they would keep its
 * port and answer for it. Returns the lock and what was cleaned up, for the caller to say.
 */
function lockWorkDir(workDir: string, stackId: string, port: number): StackLock {
  const file = join(workDir, FILE);
  const previous = read(file);
  const cleaned: number[] = [];
  if (previous) {
    if (isRunning(previous.pid, previous.startTime)) {
      throw new Error(`a vmconsole stack is already running from ${workDir}: pid ${previous.pid}, HTTP API on port ${previous.port}. Stop it first (kill ${previous.pid}).`);
    }
    for (const group of previous.groups) {
      if (!belongsTo(group, previous.stackId)) continue;
      try {
        process.kill(-group, 'SIGKILL');
        cleaned.push(group);
      } catch {
        // gone meanwhile
      }
    }
  }
  const me = processInfo(process.pid)!;
  const record: StackRecord = { pid: process.pid, startTime: me.startTime, port, stackId, groups: [] };
  writeFileSync(file, JSON.stringify(record));
  return {
    workDir,
    stackId,
    port,
    cleaned,
    update(change) {
      Object.assign(record, change);
      writeFileSync(file, JSON.stringify(record));
    },
    release() {
      if (read(file)?.stackId === stackId) rmSync(file, { force: true });
    },
  };
}

/**
 * Everything that can refuse a start, done first and with light imports only, so a user hears
 * within a second that another stack runs here or who holds the port. `port` 0 picks a free one.
 */
export async function claimStack(workDir: string, port: number): Promise<StackLock> {
  mkdirSync(workDir, { recursive: true });
  const chosen = port === 0 ? await freePort() : port;
  const lock = lockWorkDir(workDir, randomUUID(), chosen);
  try {
    await assertPortFree(chosen);
  } catch (err) {
    lock.release();
    throw err;
  }
  return lock;
}
