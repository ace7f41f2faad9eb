/**
 * startAgent in process (lib/agent/agent.ts), on fauxqs + dynalite with the files driver, its
 * configuration read from the test's own environment object: what it publishes before its first
 * heartbeat, how it keeps the directory current, what it logs from its transport's events (the
 * operator's view), and that stop() ends all of it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION, MAINTENANCE_REASON, startAgent, type RunningAgent } from '../../lib/agent/agent.ts';
import { readAgentConfig } from '../../lib/agent/config.ts';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import type { Requester } from '../../lib/transport/requester.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { novaTail, writeNamedInstances, type NamedServer } from '../helpers/reliability-fixture.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { ask, sendRaw, startRequester } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { enrolTestHost, filesDriverEnv } from '../helpers/agent-process.ts';

const HEARTBEAT_MS = 200;
const aws = useLocalAws();
let work: string;
let requester: Requester;
const running: RunningAgent[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-agent-'));
  requester = startRequester(aws);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((agent) => agent.stop()));
});
afterAll(async () => {
  await requester?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** An agent for `host` over its own instances dir, started as main.ts starts it, minus process.env. */
async function agentFor(host: string, servers: number) {
  const instancesDir = join(work, host);
  const named = await writeNamedInstances(instancesDir, servers);
  const config = readAgentConfig({
    ...aws.env,
    VMCONSOLE_HOST: host,
    ...filesDriverEnv(instancesDir),
    VMCONSOLE_HEARTBEAT_MS: String(HEARTBEAT_MS),
  });
  const logger = recordingLogger();
  await enrolTestHost(aws.env, host);
  const startedAt = Date.now();
  const agent = await startAgent(config, logger, aws.env);
  running.push(agent);
  return { agent, logger, instancesDir, servers: named, startedAt };
}

const consoleRequest = (server: NamedServer, length: number | null) =>
  ({ v: PROTOCOL_VERSION, kind: 'console.output', server: { id: server.id, instanceName: server.id }, length }) as const;

describe('startAgent', () => {
  it('publishes its servers and its host record before it resolves, and says so in its log', async () => {
    const { agent, logger, servers, startedAt } = await agentFor('agent-start', 3);
    const host = await aws.directory.getHost('agent-start');
    expect(host).toMatchObject({ host: 'agent-start', queueUrl: agent.queueUrl, hypervisor: 'files', heartbeatIntervalMs: HEARTBEAT_MS, agentVersion: AGENT_VERSION });
    expect(host!.heartbeatAt).toBeGreaterThanOrEqual(startedAt);
    expect((await aws.directory.serversOnHost('agent-start')).map((s) => s.id).sort()).toEqual(servers.map((s) => s.id).sort());

    const messages = logger.entries.map((e) => e.message);
    expect(messages.indexOf('inventory synced')).toBeLessThan(messages.indexOf('agent started'));
    expect(logger.entries.find((e) => e.message === 'inventory synced')!.data).toEqual({ present: 3, written: 3, removed: 0, refused: 0 });
    expect(logger.entries.find((e) => e.message === 'agent started')!.data).toMatchObject({ host: 'agent-start', driver: { kind: 'files' }, queueUrl: agent.queueUrl });
  });

  it('answers console requests with the server\'s own log, shaped for the length asked', async () => {
    const { servers } = await agentFor('agent-serve', 2);
    for (const server of servers) {
      for (const length of [null, 2, 5]) {
        expect(await ask(requester, 'agent-serve', consoleRequest(server, length), 5_000)).toMatchObject({ ok: true, result: { output: novaTail(server.log, length) } });
      }
    }
  });

  it('keeps the directory current at every heartbeat for a driver without events, logging only what changed', async () => {
    const { logger, instancesDir } = await agentFor('agent-sync', 1);
    const id = '7a000000-0000-4000-8000-000000000001';
    await mkdir(join(instancesDir, id));
    await writeFile(join(instancesDir, id, 'instance.json'), JSON.stringify({ name: 'late-comer', projectId: 'rel', userId: 'rel-user' }));
    await waitFor(async () => (await aws.directory.getServer(id)) !== undefined, 5_000, 'the new server to be published');
    await waitFor(() => logger.entries.filter((e) => e.message === 'inventory synced').length === 2, 2_000, 'the second sync to be logged');
    expect(logger.entries.filter((e) => e.message === 'inventory synced').map((e) => e.data)).toEqual([
      { present: 1, written: 1, removed: 0, refused: 0 },
      { present: 2, written: 1, removed: 0, refused: 0 },
    ]);
    // Steady again: further beats sync (one Query each) without logging.
    await sleep(3 * HEARTBEAT_MS);
    expect(logger.entries.filter((e) => e.message === 'inventory synced')).toHaveLength(2);
  });

  it('logs a refused request with the edge\'s request id, the correlation id, the code and the operator detail', async () => {
    const { logger, instancesDir, servers } = await agentFor('agent-refuse', 1);
    const [server] = servers;
    // A console.log that is a directory: Forbidden, the path only in the detail.
    await rm(join(instancesDir, server!.id, 'console.log'));
    await mkdir(join(instancesDir, server!.id, 'console.log'));
    const reply = await requester.request('agent-refuse', consoleRequest(server!, null), { deadline: Date.now() + 5_000, requestId: 'req-agent-refused' });
    expect(reply).toMatchObject({ ok: false, error: { code: 'Forbidden' } });
    // The path travels as operator detail only; the message is the one a tenant may read.
    expect((reply as { error: { message: string } }).error.message).not.toContain(instancesDir);
    await waitFor(() => logger.entries.some((e) => e.message === 'request refused'), 2_000, 'the refusal to be logged');
    const entry = logger.entries.find((e) => e.message === 'request refused')!;
    expect(entry.level).toBe('warn');
    expect(entry.data).toMatchObject({ requestId: 'req-agent-refused', kind: 'console.output', code: 'Forbidden', detail: expect.stringContaining(instancesDir) });
    expect(entry.data.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs poison on its queue as left for the DLQ, and keeps serving', async () => {
    const { agent, logger, servers } = await agentFor('agent-poison', 1);
    await sendRaw(aws.sqs, agent.queueUrl, '{"not": "a request"', { correlationId: 'poison-1', replyTo: 'nowhere', deadline: Date.now() + 5_000 });
    await waitFor(() => logger.entries.some((e) => e.message === 'poison message left for the DLQ'), 5_000, 'the poison to be logged');
    expect(logger.entries.find((e) => e.message === 'poison message left for the DLQ')!.level).toBe('warn');
    expect(await ask(requester, 'agent-poison', consoleRequest(servers[0]!, 2), 5_000)).toMatchObject({ ok: true, result: { output: novaTail(servers[0]!.log, 2) } });
  });

  it('a restart clears the maintenance mark of the stop before it', async () => {
    const first = await agentFor('agent-restart', 1);
    await first.agent.stop();
    running.splice(running.indexOf(first.agent), 1);
    expect((await aws.directory.getHost('agent-restart'))!.maintenance).toBeDefined();
    const again = await startAgent(readAgentConfig({
      ...aws.env, VMCONSOLE_HOST: 'agent-restart', ...filesDriverEnv(first.instancesDir), VMCONSOLE_HEARTBEAT_MS: String(HEARTBEAT_MS),
    }), recordingLogger(), aws.env);
    running.push(again);
    expect(await aws.directory.getHost('agent-restart')).not.toHaveProperty('maintenance');
  });

  it('stops heartbeating and serving once stopped, its host marked in maintenance', async () => {
    const { agent, servers } = await agentFor('agent-stop', 1);
    await agent.stop();
    running.splice(running.indexOf(agent), 1);
    const stopped = (await aws.directory.getHost('agent-stop'))!;
    expect(stopped.maintenance).toEqual({ since: stopped.heartbeatAt, reason: MAINTENANCE_REASON });
    await sleep(3 * HEARTBEAT_MS);
    // No heartbeat in flight at the stop overwrote the mark, and none came after it.
    expect(await aws.directory.getHost('agent-stop')).toEqual(stopped);
    const unanswered = await ask(requester, 'agent-stop', consoleRequest(servers[0]!, 1), 1_000).catch((err: unknown) => err);
    expect(unanswered).toMatchObject({ code: 'HostTimeout' });
  });
});
