import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Principal } from '../../lib/auth/principal.ts';
import { novaConsoleOutput } from './nova-console-formula.ts';

/** Servers whose logs name them on every line, so a mixed-up answer cannot pass for a right one. */
export interface NamedServer {
  id: string;
  name: string;
  projectId: string;
  log: string;
}

/**
 * `count` files-driver instance dirs under `instancesDir`, each with its own log (lines vary per
 * server). `first` numbers them from there, so several hosts' servers never share an id.
 */
export async function writeNamedInstances(instancesDir: string, count: number, projectId = 'rel', first = 0): Promise<NamedServer[]> {
  const servers: NamedServer[] = [];
  // Each call its own ids: two hosts listing one UUID is a conflict the registrar refuses.
  const batch = randomUUID().slice(0, 8);
  for (let i = first; i < first + count; i++) {
    const id = `${batch}-0000-4000-8000-${String(i + 1).padStart(12, '0')}`;
    const name = `rel-${i}`;
    const lines = Array.from({ length: 20 + (i % 7) * 5 }, (_, n) => `boot of server ${id} line ${n}`);
    const log = `${lines.join('\n')}\n`;
    const dir = join(instancesDir, id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'instance.json'), JSON.stringify({ name, projectId, userId: `${projectId}-user` }));
    await writeFile(join(dir, 'console.log'), log);
    servers.push({ id, name, projectId, log });
  }
  return servers;
}

/** Nova's answer for one of these logs (ASCII, no control characters): the spec's formula. */
export const novaTail = (log: string, length: number | null): string => novaConsoleOutput(Buffer.from(log, 'latin1'), length);

export const tenant = (projectId: string): Principal => ({ userId: `${projectId}-user`, projectId, roles: [], isAdmin: false });

/**
 * What a file did to the system: every request sent is either answered (right answer to the
 * right caller), or refused with the error the fault calls for; anything else is lost.
 */
export class Ledger {
  sent = 0;
  answered = 0;
  refusedAsExpected = 0;
  faults = 0;
  readonly problems: string[] = [];

  get lost(): number {
    return this.sent - this.answered - this.refusedAsExpected;
  }

  /** Run one request; `judge` says whether its outcome is the right one. */
  async track<T>(request: () => Promise<T>, judge: (outcome: { value?: T; error?: unknown }) => 'answered' | 'refused' | string): Promise<void> {
    this.sent += 1;
    let outcome: { value?: T; error?: unknown };
    try {
      outcome = { value: await request() };
    } catch (error) {
      outcome = { error };
    }
    const verdict = judge(outcome);
    if (verdict === 'answered') this.answered += 1;
    else if (verdict === 'refused') this.refusedAsExpected += 1;
    else this.problems.push(verdict);
  }

  summary(file: string): string {
    return `${file}: requests sent ${this.sent}, served ${this.answered}, refused as the fault requires ${this.refusedAsExpected}, faults injected ${this.faults}, messages lost = ${this.lost}`;
  }
}
