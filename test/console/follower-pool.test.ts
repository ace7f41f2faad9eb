import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FLOOR_BYTES_PER_SECOND, FollowerPool, type ConsoleConsumer, type PoolEvents } from '../../lib/console/follower-pool.ts';
import type { ChunkInfo } from '../../lib/console/log-follower.ts';
import { virtlogdRotation } from '../../lib/console/rotated-log.ts';
import { sleep } from '../helpers/wait.ts';

interface Server {
  id: string;
  /** undefined: the server has no console log. */
  log?: string;
}

/** A real consumer per console that keeps what it is handed. */
class Recording implements ConsoleConsumer {
  readonly chunks: { chunk: Buffer; info: ChunkInfo }[] = [];
  closed = false;
  chunk(chunk: Buffer, info: ChunkInfo): void {
    this.chunks.push({ chunk, info });
  }
  close(): void {
    this.closed = true;
  }
  get text(): string {
    return Buffer.concat(this.chunks.map((c) => c.chunk)).toString();
  }
  get delivered(): number {
    return this.chunks.reduce((n, c) => n + c.chunk.length, 0);
  }
}

let root: string;
let pool: FollowerPool<Server> | undefined;
let consumers: Map<string, Recording>;
let events: { event: keyof PoolEvents; payload: PoolEvents[keyof PoolEvents] }[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vmconsole-pool-'));
  consumers = new Map();
  events = [];
});
afterEach(async () => {
  await pool?.stop();
  pool = undefined;
  rmSync(root, { recursive: true, force: true });
});

function startPool(options: Partial<ConstructorParameters<typeof FollowerPool<Server>>[0]> = {}): FollowerPool<Server> {
  const record = <E extends keyof PoolEvents>(event: E) => (payload: PoolEvents[E]) => events.push({ event, payload });
  pool = new FollowerPool<Server>({
    roots: [root],
    locate: async (server) => (server.log === undefined ? undefined : virtlogdRotation(server.log)),
    consumerFor: (server) => {
      const consumer = new Recording();
      consumers.set(server.id, consumer);
      return consumer;
    },
    observer: {
      started: record('started'), stopped: record('stopped'), skipped: record('skipped'), mode: record('mode'),
      problem: record('problem'), over_capacity: record('over_capacity'),
    },
    ...options,
  });
  return pool;
}

async function server(id: string, content = ''): Promise<Server> {
  const dir = join(root, id);
  await mkdir(dir, { recursive: true });
  const log = join(dir, 'console.log');
  if (content) await writeFile(log, content);
  return { id, log };
}

const of = <E extends keyof PoolEvents>(event: E) => events.filter((e) => e.event === event).map((e) => e.payload as PoolEvents[E]);

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`never happened: ${what}`);
    await sleep(10);
  }
}

describe('FollowerPool', () => {
  it('follows each listed console into its own consumer, and lets go of a server that leaves', async () => {
    const a = await server('a', 'old a\n');
    const b = await server('b');
    const bare: Server = { id: 'no-console' };
    const p = startPool();
    await p.sync([a, b, bare]);
    expect(p.followed.sort()).toEqual(['a', 'b']);
    await appendFile(a.log!, 'a boots\n');
    await appendFile(b.log!, 'b boots\n');
    await waitUntil(() => consumers.get('a')!.text === 'a boots\n' && consumers.get('b')!.text === 'b boots\n', 'both boot lines');

    const fds = readdirSync('/proc/self/fd').length;
    await p.sync([a, bare]);
    expect(p.followed).toEqual(['a']);
    expect(consumers.get('b')!.closed).toBe(true);
    expect(readdirSync('/proc/self/fd').length).toBe(fds - 1);
    expect(of('stopped')).toEqual([{ id: 'b', file: b.log }]);
    await appendFile(b.log!, 'b after\n');
    await appendFile(a.log!, 'a more\n');
    await waitUntil(() => consumers.get('a')!.text === 'a boots\na more\n', 'a\'s next line');
    expect(consumers.get('b')!.text).toBe('b boots\n');
  });

  it('follows at most maxFollowers consoles, by id, and says once which are left out', async () => {
    const servers = await Promise.all(['c', 'a', 'b'].map((id) => server(id)));
    const p = startPool({ maxFollowers: 2 });
    await p.sync(servers);
    await p.sync(servers);
    expect(p.followed.sort()).toEqual(['a', 'b']);
    expect(of('over_capacity')).toEqual([{ max: 2, unfollowed: ['c'] }]);
    await p.sync(servers.slice(1));
    expect(p.followed.sort()).toEqual(['a', 'b']);
  });

  it('shares the total rate equally, never below a serial console\'s top speed: a flood is skipped and reported once per period, a quiet console loses nothing', async () => {
    const loud = await server('loud');
    const quiet = await server('quiet');
    const p = startPool({ totalBytesPerSecond: 2 * FLOOR_BYTES_PER_SECOND, reportEveryMs: 200 });
    await p.sync([loud, quiet]);
    expect(p.shareBytesPerSecond).toBe(FLOOR_BYTES_PER_SECOND);
    const flood = randomBytes(1024 * 1024);
    await appendFile(loud.log!, flood);
    await appendFile(quiet.log!, 'Kernel panic - not syncing: quiet guest\n');
    await waitUntil(() => consumers.get('quiet')!.text === 'Kernel panic - not syncing: quiet guest\n', 'the quiet console\'s line');
    await waitUntil(() => of('skipped').length > 0, 'a skip report');
    const reported = of('skipped').reduce((n, e) => n + e.bytes, 0);
    const loudConsumer = consumers.get('loud')!;
    await waitUntil(() => loudConsumer.chunks.at(-1)!.info.offset + loudConsumer.chunks.at(-1)!.chunk.length === flood.length, 'the flood\'s last byte');
    await p.stop();
    const totalReported = of('skipped').reduce((n, e) => n + e.bytes, 0);
    expect(totalReported).toBeGreaterThanOrEqual(reported);
    expect(loudConsumer.delivered + totalReported).toBe(flood.length);
    expect(of('skipped').every((e) => e.id === 'loud')).toBe(true);
  });

  it('keeps following when the driver cannot say where a log is for a moment, and follows a log that moved anew', async () => {
    const a = await server('a');
    let failing = false;
    let where = a.log!;
    const p = startPool({
      locate: async () => {
        if (failing) throw new Error('virsh timed out');
        return virtlogdRotation(where);
      },
    });
    await p.sync([a]);
    failing = true;
    await p.sync([a]);
    expect(p.followed).toEqual(['a']);
    expect(of('problem')).toEqual([{ id: 'a', kind: 'locate', detail: 'virsh timed out' }]);
    failing = false;
    const moved = await server('a-moved');
    where = moved.log!;
    await p.sync([a]);
    expect(of('started').map((e) => e.file)).toEqual([a.log, moved.log]);
    await appendFile(moved.log!, 'at the new place\n');
    await waitUntil(() => consumers.get('a')!.text === 'at the new place\n', 'the moved log\'s line');
  });
});
