/**
 * Automation batches end to end on fauxqs + dynalite: a client's request on the request queue, the
 * local poller, the router, real agents on three hosts answering the client's queue directly.
 * Every server of a batch gets exactly one first reply, numbered 1..total, with the Nova API's
 * output; hosts that are down or die mid-batch still complete the batch by its deadline.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/route-console-requests.ts';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import type { HostRequester } from '../../lib/transport/ask-host.ts';
import { kill } from '../helpers/agent-process.ts';
import { collectBatch, lambdaContext, sqsEvent, useAutomationRig } from '../helpers/automation-fixture.ts';
import { novaTail, tenant } from '../helpers/reliability-fixture.ts';

const rig = useAutomationRig({
  hosts: [
    { host: 'auto-a', servers: 12, projectId: 'proj-a' },
    { host: 'auto-b', servers: 12, projectId: 'proj-a' },
    { host: 'auto-c', servers: 6, projectId: 'proj-b' },
    { host: 'auto-dies', servers: 6, projectId: 'proj-d' },
  ],
});

const request = (target: object, extra: object = {}) => ({ v: 1, requestId: `req-${randomUUID()}`, kind: 'console.output', ...target, ...extra });
const UNKNOWN = '9b2d3f4e-0000-4000-8000-00000000dead';

describe('a batch of servers', () => {
  it('spans several hosts: one reply per server, numbered in the client\'s order, each the Nova API\'s output', async () => {
    const [a, b, c] = rig.hosts;
    const servers = [a!.servers[0]!, b!.servers[3]!, c!.servers[1]!, a!.servers[5]!, b!.servers[11]!];
    const replyTo = await rig.clientQueue();
    const body = request({ servers: [...servers.map((s) => s.id), UNKNOWN] }, { replyTo, length: 3 });
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId);

    expect(batch.complete).toBe(true);
    expect(batch.total).toBe(6);
    for (const [i, server] of servers.entries()) {
      expect(batch.replies[i]).toEqual({ v: 1, requestId: body.requestId, serverId: server.id, seq: i + 1, total: 6, ok: true, output: novaTail(server.log, 3) });
    }
    expect(batch.replies[5]).toMatchObject({ serverId: UNKNOWN, seq: 6, ok: false, error: { code: 'ServerNotFound', message: `Instance ${UNKNOWN} could not be found.` } });
    // The HTTP API's own use case, over the same agent, answers the same bytes.
    const viaEdge = await getConsoleOutput({ principal: tenant('proj-a'), serverId: servers[1]!.id, length: 3, requestId: 'req-compare', deadline: Date.now() + 5_000 }, { directory: rig.aws.directory, requester: rig.deps.requester });
    expect(batch.replies[1]).toMatchObject({ ok: true, output: viaEdge });
  });

  it('expands a project in name order, with Nova\'s length semantics (null keeps everything)', async () => {
    const replyTo = await rig.clientQueue();
    const body = request({ project: 'proj-a' }, { replyTo, length: null, token: 'alice:proj-a' });
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId);
    const expected = [...rig.hosts[0]!.servers, ...rig.hosts[1]!.servers].sort((x, y) => x.name.localeCompare(y.name) || x.id.localeCompare(y.id));
    expect(batch.complete).toBe(true);
    expect(batch.replies.map((r) => r.serverId)).toEqual(expected.map((s) => s.id));
    for (const [i, reply] of batch.replies.entries()) expect(reply).toMatchObject({ ok: true, output: expected[i]!.log });
  });

  it('expands a host for operators (no token)', async () => {
    const replyTo = await rig.clientQueue();
    const body = request({ host: 'auto-c' }, { replyTo, length: '2' });
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId);
    expect(batch.complete).toBe(true);
    expect(batch.total).toBe(6);
    expect(batch.replies.every((r) => r.ok)).toBe(true);
  });

  it('a request delivered twice is answered twice; keeping the first reply per seq gives one complete batch', async () => {
    const replyTo = await rig.clientQueue();
    const body = request({ servers: rig.hosts[2]!.servers.map((s) => s.id) }, { replyTo, length: 1 });
    await rig.send(body);
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId, { lingerMs: 1_500 });
    expect(batch.complete).toBe(true);
    expect(batch.replies).toHaveLength(6);
    expect(batch.duplicates).toBe(6);
    for (const [i, reply] of batch.replies.entries()) expect(reply).toMatchObject({ ok: true, output: novaTail(rig.hosts[2]!.servers[i]!.log, 1) });
  });
});

describe('fan-out', () => {
  it('each host gets its share in bounded chunks, a bounded number at a time', async () => {
    // The real requester, watched: what each host is sent, and how much at once.
    const inFlight = new Map<string, number>();
    const peak = new Map<string, number>();
    const chunkSizes: number[] = [];
    const requester: HostRequester = {
      async request(host, body, options) {
        if (body.kind === 'console.output.batch') chunkSizes.push(body.servers.length);
        inFlight.set(host, (inFlight.get(host) ?? 0) + 1);
        peak.set(host, Math.max(peak.get(host) ?? 0, inFlight.get(host)!));
        try {
          return await rig.deps.requester.request(host, body, options);
        } finally {
          inFlight.set(host, inFlight.get(host)! - 1);
        }
      },
    };
    const handler = createHandler({ ...rig.deps, requester, plan: { chunkSize: 5, perHostInFlight: 2, chunkWaitMs: 10_000 } });
    const replyTo = await rig.clientQueue();
    const body = request({ project: 'proj-a' }, { replyTo });
    await handler(sqsEvent(JSON.stringify(body)), lambdaContext());
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId);
    expect(batch.complete).toBe(true);
    expect(batch.replies.every((r) => r.ok)).toBe(true);
    // 12 servers on each of two hosts: chunks of 5, 5 and 2 per host, two at a time.
    expect(chunkSizes.sort()).toEqual([2, 2, 5, 5, 5, 5]);
    expect(Object.fromEntries(peak)).toEqual({ 'auto-a': 2, 'auto-b': 2 });
  });
});

describe('hosts that cannot answer', () => {
  it('a host known to be down is answered HostDown at once; the other hosts\' servers are served', async () => {
    const id = randomUUID();
    await rig.aws.directory.putHost({ host: 'auto-stale', queueUrl: `${rig.requestQueueUrl}-nothing`, hypervisor: 'files', heartbeatAt: Date.now() - 120_000, heartbeatIntervalMs: 1_000, agentVersion: 'test' });
    await rig.aws.directory.putServers([{ id, name: 'stale-1', projectId: 'proj-a', userId: 'u', host: 'auto-stale', hypervisor: 'files', state: 'active', instanceName: id, updatedAt: Date.now() }]);
    const replyTo = await rig.clientQueue();
    const body = request({ servers: [id, rig.hosts[0]!.servers[0]!.id] }, { replyTo });
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId, { timeoutMs: 8_000 });
    expect(batch.complete).toBe(true);
    expect(batch.replies[0]).toMatchObject({ seq: 1, ok: false, error: { code: 'HostDown', message: 'The compute host of this server is down.' } });
    expect(batch.replies[1]).toMatchObject({ seq: 2, ok: true });
    expect(JSON.stringify(batch.replies)).not.toContain('auto-stale');
  });

  it('hosts in maintenance or speaking no common protocol version are answered at once; the others are served', async () => {
    const [maint, tooNew] = [randomUUID(), randomUUID()];
    const record = { queueUrl: `${rig.requestQueueUrl}-nothing`, hypervisor: 'files', heartbeatAt: Date.now(), heartbeatIntervalMs: 30_000, agentVersion: 'test' } as const;
    await rig.aws.directory.putHost({ ...record, host: 'auto-maint', maintenance: { since: Date.now(), reason: 'maintenance: agent stopped' } });
    await rig.aws.directory.putHost({ ...record, host: 'auto-too-new', protocolMin: PROTOCOL_VERSION + 1, protocolMax: PROTOCOL_VERSION + 1 });
    const server = (id: string, host: string) => ({ id, name: id.slice(0, 8), projectId: 'proj-a', userId: 'u', host, hypervisor: 'files', state: 'active', instanceName: id, updatedAt: Date.now() }) as const;
    await rig.aws.directory.putServers([server(maint, 'auto-maint'), server(tooNew, 'auto-too-new')]);
    const replyTo = await rig.clientQueue();
    const body = request({ servers: [maint, tooNew, rig.hosts[0]!.servers[0]!.id] }, { replyTo });
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId, { timeoutMs: 8_000 });
    expect(batch.complete).toBe(true);
    expect(batch.replies[0]).toMatchObject({ seq: 1, ok: false, error: { code: 'HostMaintenance', message: 'The compute host of this server is in maintenance. Try again later.' } });
    expect(batch.replies[1]).toMatchObject({ seq: 2, ok: false, error: { code: 'HostIncompatible' } });
    expect(batch.replies[2]).toMatchObject({ seq: 3, ok: true });
  });

  it('a host that dies with the batch in flight: its servers are answered HostTimeout by the deadline, the rest served', async () => {
    const dying = rig.hosts[3]!;
    // Killed, yet its heartbeat is still fresh: the router believes it and asks.
    await kill(dying.agent);
    const replyTo = await rig.clientQueue();
    const body = request({ servers: [...dying.servers.map((s) => s.id), rig.hosts[1]!.servers[0]!.id] }, { replyTo });
    const started = Date.now();
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId, { timeoutMs: 20_000 });
    expect(batch.complete).toBe(true);
    // One chunk wait (10 s) and the poller's receive, not one wait per chunk.
    expect(Date.now() - started).toBeLessThan(16_000);
    for (const reply of batch.replies.slice(0, 6)) {
      expect(reply).toMatchObject({ ok: false, error: { code: 'HostTimeout', message: expect.stringMatching(/^The compute host of this server did not answer within \d+(\.\d)? s\.$/) } });
    }
    expect(batch.replies[6]).toMatchObject({ seq: 7, ok: true });
  });
});
