/**
 * The agent's console-consumer seam (what the crash analyser plugs into), on fauxqs + dynalite
 * with the files driver, in process: with VMCONSOLE_FOLLOW=auto (the default) or on, every listed server's console is
 * followed into its own consumer, servers that appear or leave are followed or let go at the next
 * listing, and stop() ends it all. With it off, nothing is followed.
 */
import { appendFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../lib/agent/agent.ts';
import { readAgentConfig } from '../../lib/agent/config.ts';
import type { ConsoleConsumer } from '../../lib/console/follower-pool.ts';
import type { ChunkInfo } from '../../lib/console/log-follower.ts';
import type { ServerHandle } from '../../lib/hypervisors/driver.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { writeNamedInstances } from '../helpers/reliability-fixture.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { waitFor } from '../helpers/wait.ts';
import { enrolTestHost, filesDriverEnv } from '../helpers/agent-process.ts';

const HEARTBEAT_MS = 200;
const aws = useLocalAws();
let work: string;
const running: RunningAgent[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-agent-follow-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((agent) => agent.stop()));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A real consumer per console: what it was handed, in order, and whether it was closed. */
class RecordingConsumer implements ConsoleConsumer {
  readonly chunks: { chunk: Buffer; info: ChunkInfo }[] = [];
  readonly resets: number[] = [];
  closed = false;
  readonly server: ServerHandle;
  constructor(server: ServerHandle) {
    this.server = server;
  }
  chunk(chunk: Buffer, info: ChunkInfo): void {
    this.chunks.push({ chunk, info });
  }
  reset(event: { offset: number }): void {
    this.resets.push(event.offset);
  }
  close(): void {
    this.closed = true;
  }
  get text(): string {
    return Buffer.concat(this.chunks.map((c) => c.chunk)).toString();
  }
}

async function agentFor(host: string, follow: 'auto' | 'on' | 'off') {
  const instancesDir = join(work, host);
  const servers = await writeNamedInstances(instancesDir, 2);
  const config = readAgentConfig({
    ...aws.env,
    VMCONSOLE_HOST: host,
    ...filesDriverEnv(instancesDir),
    VMCONSOLE_HEARTBEAT_MS: String(HEARTBEAT_MS),
    VMCONSOLE_FOLLOW: follow,
  });
  const consumers: RecordingConsumer[] = [];
  const logger = recordingLogger();
  await enrolTestHost(aws.env, host);
  const agent = await startAgent(config, logger, aws.env, {
    consoleConsumer: (server) => {
      const consumer = new RecordingConsumer(server);
      consumers.push(consumer);
      return consumer;
    },
  });
  running.push(agent);
  const consumerOf = (id: string) => consumers.find((c) => c.server.id === id && !c.closed);
  return { agent, logger, instancesDir, servers, consumers, consumerOf };
}

describe('the agent follows consoles into the console consumer', () => {
  it('hands each server\'s new output to its own consumer, from the first listing on', async () => {
    // The default (auto): a consumer is plugged in, so consoles are followed.
    const { servers, instancesDir, consumerOf, logger } = await agentFor('follow-auto', 'auto');
    await waitFor(() => servers.every((s) => consumerOf(s.id) !== undefined), 15_000, 'a consumer per server');
    const [a, b] = servers;
    await appendFile(join(instancesDir, a!.id, 'console.log'), 'Kernel panic - not syncing: VFS: Unable to mount root fs\n');
    await appendFile(join(instancesDir, b!.id, 'console.log'), 'login: \n');
    await waitFor(() => consumerOf(a!.id)!.text === 'Kernel panic - not syncing: VFS: Unable to mount root fs\n', 15_000, 'a\'s panic line');
    await waitFor(() => consumerOf(b!.id)!.text === 'login: \n', 15_000, 'b\'s prompt');
    // What was in the log before the agent started is not handed over again: offsets start at 0 with the new bytes.
    expect(consumerOf(a!.id)!.chunks[0]!.info.offset).toBe(0);
    expect(consumerOf(a!.id)!.server).toEqual({ id: a!.id, instanceName: a!.id });
    expect(logger.entries.find((e) => e.message === 'agent started')!.data).toMatchObject({ followingConsoles: true });
  });

  it('follows a server that appears and lets go of one that leaves, at the next listing; stop() closes every consumer', async () => {
    const { agent, servers, instancesDir, consumers, consumerOf } = await agentFor('follow-churn', 'on');
    await waitFor(() => servers.every((s) => consumerOf(s.id) !== undefined), 15_000, 'a consumer per server');
    // Made aside and moved in whole: a listing between mkdir and the first write would rightly
    // follow the fixture's boot lines as new output.
    const [added] = await writeNamedInstances(join(work, 'staging'), 1, 'rel', 5);
    await rename(join(work, 'staging', added!.id), join(instancesDir, added!.id));
    await waitFor(() => consumerOf(added!.id) !== undefined, 15_000, 'the new server to be followed');
    await appendFile(join(instancesDir, added!.id, 'console.log'), 'new guest\n');
    await waitFor(() => consumerOf(added!.id)!.text === 'new guest\n', 15_000, 'the new server\'s line');

    const gone = consumerOf(servers[0]!.id)!;
    await rm(join(instancesDir, servers[0]!.id), { recursive: true });
    await waitFor(() => gone.closed, 15_000, 'the removed server\'s consumer to be closed');

    await agent.stop();
    running.splice(running.indexOf(agent), 1);
    expect(consumers.every((c) => c.closed)).toBe(true);
  });

  it('with VMCONSOLE_FOLLOW=off no console is followed, whatever is plugged in', async () => {
    const { servers, instancesDir, consumers, logger } = await agentFor('follow-off', 'off');
    await mkdir(join(instancesDir, servers[0]!.id), { recursive: true });
    await appendFile(join(instancesDir, servers[0]!.id, 'console.log'), 'unheard\n');
    // Three heartbeats: listings happen, and still no consumer is asked for.
    await new Promise((resolve) => setTimeout(resolve, 3 * HEARTBEAT_MS));
    expect(consumers).toEqual([]);
    expect(logger.entries.find((e) => e.message === 'agent started')!.data).toMatchObject({ followingConsoles: false });
    expect(readAgentConfig({ VMCONSOLE_HOST: 'h', VMCONSOLE_TABLE: 'table' }).follow).toBe('auto');
  });
});
