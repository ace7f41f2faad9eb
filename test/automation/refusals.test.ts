/**
 * What the router refuses, and how: every bad input with a usable replyTo gets one clear reply
 * (total 0, or per server); without one, nothing is sent anywhere and the message reaches the DLQ
 * after the queue's receives; a crashing record fails alone. Tokens scope requests exactly like
 * the HTTP API; replies go only to allowed client queues, at the router and at the agents.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/route-console-requests.ts';
import { readAuthConfig } from '../../lib/auth/config.ts';
import { MAX_REQUEST_BYTES } from '../../lib/contracts/automation.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import { KeyedRateLimiter } from '../../lib/limits/token-bucket.ts';
import type { RouterDeps } from '../../lib/automation/route-console-request.ts';
import { createRouterDependencies } from '../../lib/automation/wiring.ts';
import { collectBatch, lambdaContext, sqsEvent, useAutomationRig } from '../helpers/automation-fixture.ts';
import { queueDepth } from '../helpers/transport-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const rig = useAutomationRig({
  hosts: [
    { host: 'ref-a', servers: 4, projectId: 'proj-a' },
    { host: 'ref-b', servers: 4, projectId: 'proj-b' },
  ],
  visibilityTimeoutS: 1,
});

const request = (target: object, extra: object = {}) => ({ v: 1, requestId: `req-${randomUUID()}`, kind: 'console.output', ...target, ...extra });
const JWT_SECRET = 'automation-test-secret-of-at-least-32-bytes';

/** The rig's directory with a fault injected into server lookups. */
function withGetServer(directory: RouterDeps['directory'], getServer: RouterDeps['directory']['getServer']): RouterDeps['directory'] {
  return { getServer, getHost: (host) => directory.getHost(host), findServers: (query) => directory.findServers(query) };
}

/** The single reply a request that cannot be expanded gets. */
async function unexpandable(replyTo: string, requestId: string) {
  const batch = await collectBatch(rig.aws.sqs, replyTo, requestId, { timeoutMs: 8_000 });
  expect(batch.complete).toBe(true);
  expect(batch.replies).toHaveLength(1);
  expect(batch.replies[0]).toMatchObject({ v: 1, requestId, serverId: null, seq: 0, total: 0, ok: false });
  return batch.replies[0] as Extract<(typeof batch.replies)[number], { ok: false }>;
}

describe('bad input with a usable replyTo: one reply, total 0, saying what is wrong', () => {
  const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  it.each([
    ['a wrong v', { v: 2, servers: [id(1)] }, 'v: '],
    ['an unknown kind', { kind: 'console.screenshot', servers: [id(1)] }, 'kind: '],
    ['two of servers/project/host', { servers: [id(1)], project: 'proj-a' }, 'exactly one of servers, project, host is required'],
    ['1,001 servers', { servers: Array.from({ length: 1001 }, (_, i) => id(i + 1)) }, 'servers: '],
    ['duplicate ids', { servers: [id(1), id(1)] }, 'servers: must not name a server twice'],
    ['a length Nova refuses', { servers: [id(1)], length: -2 }, 'length: '],
  ])('%s', async (_, fields, problem) => {
    const replyTo = await rig.clientQueue();
    const body = { ...request({}, { replyTo }), ...fields };
    await rig.send(body);
    const reply = await unexpandable(replyTo, body.requestId);
    expect(reply.error.code).toBe('BadRequest');
    expect(reply.error.message).toContain(problem);
  });

  it('an oversized body', async () => {
    const replyTo = await rig.clientQueue();
    const body = request({ servers: [rig.hosts[0]!.servers[0]!.id] }, { replyTo, note: 'x'.repeat(MAX_REQUEST_BYTES) });
    await rig.send(body);
    const reply = await unexpandable(replyTo, body.requestId);
    expect(reply.error).toMatchObject({ code: 'PayloadTooLarge', message: expect.stringContaining(`the limit is ${MAX_REQUEST_BYTES}`) });
  });
});

describe('messages no reply can be sent for', () => {
  it('malformed JSON and a replyTo outside the allow-list are never answered, logged with the requestId, and dead-lettered after the receives', async () => {
    const outside = await rig.clientQueue('elsewhere-');
    const body = request({ servers: [rig.hosts[0]!.servers[0]!.id] }, { replyTo: outside });
    const before = await queueDepth(rig.aws.sqs, rig.dlqUrl);
    await rig.send('{"v":1,"requestId":"broken-json",');
    await rig.send(body);
    await waitFor(async () => (await queueDepth(rig.aws.sqs, rig.dlqUrl)) === before + 2, 20_000, 'both messages in the DLQ');
    expect(await queueDepth(rig.aws.sqs, outside)).toBe(0);
    expect(await queueDepth(rig.aws.sqs, rig.requestQueueUrl)).toBe(0);
    expect(rig.deps.logger.entries).toContainEqual(expect.objectContaining({ level: 'warn', message: expect.stringContaining('replyTo is not an allowed client reply queue'), data: expect.objectContaining({ requestId: body.requestId }) }));
  });

  it('a record that crashes the router fails alone: the other records of its batch are answered', async () => {
    const poisonId = randomUUID();
    const directory = rig.deps.directory;
    const handler = createHandler({
      ...rig.deps,
      directory: withGetServer(directory, (id) => (id === poisonId ? Promise.reject(new TypeError('cannot read properties of undefined')) : directory.getServer(id))),
    });
    const replyTo = await rig.clientQueue();
    const poison = request({ servers: [poisonId] }, { replyTo });
    const good = request({ servers: [rig.hosts[0]!.servers[1]!.id] }, { replyTo });
    const event = sqsEvent(JSON.stringify(poison), JSON.stringify(good));
    const response = await handler(event, lambdaContext());
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
    const batch = await collectBatch(rig.aws.sqs, replyTo, good.requestId, { timeoutMs: 8_000 });
    expect(batch.replies).toEqual([expect.objectContaining({ seq: 1, total: 1, ok: true })]);
  });
});

describe('who may ask what', () => {
  it('a token sees only its project: another project\'s server is ServerNotFound, as an unknown one', async () => {
    const replyTo = await rig.clientQueue();
    const [mine, theirs] = [rig.hosts[0]!.servers[0]!, rig.hosts[1]!.servers[0]!];
    const body = request({ servers: [mine.id, theirs.id] }, { replyTo, token: 'alice:proj-a' });
    await rig.send(body);
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId);
    expect(batch.replies[0]).toMatchObject({ serverId: mine.id, ok: true });
    expect(batch.replies[1]).toMatchObject({ serverId: theirs.id, ok: false, error: { code: 'ServerNotFound', message: `Instance ${theirs.id} could not be found.` } });
  });

  it('another project expands like an empty one; a host is for operators only', async () => {
    const [q1, q2] = await Promise.all([rig.clientQueue(), rig.clientQueue()]);
    const project = request({ project: 'proj-b' }, { replyTo: q1, token: 'alice:proj-a' });
    const host = request({ host: 'ref-b' }, { replyTo: q2, token: 'alice:proj-a' });
    await rig.send(project);
    await rig.send(host);
    expect((await unexpandable(q1, project.requestId)).error).toEqual({ code: 'ServerNotFound', message: 'No servers found in project proj-b.' });
    expect((await unexpandable(q2, host.requestId)).error).toEqual({ code: 'Forbidden', message: 'Only operators may ask for the servers of a host.' });
  });

  it('VMCONSOLE_QUEUE_REQUIRE_TOKEN=true refuses a request without a token', async () => {
    const handler = createHandler({ ...rig.deps, requireToken: true });
    const replyTo = await rig.clientQueue();
    const body = request({ servers: [rig.hosts[0]!.servers[0]!.id] }, { replyTo });
    expect((await handler(sqsEvent(JSON.stringify(body)), lambdaContext())).batchItemFailures).toEqual([]);
    expect((await unexpandable(replyTo, body.requestId)).error).toMatchObject({ code: 'Unauthorized', message: expect.stringContaining('token') });
  });

  it('JWT mode: a forged or expired token is refused as on the HTTP API; a valid one is scoped to its project', async () => {
    const handler = createHandler({ ...rig.deps, auth: readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: JWT_SECRET }) });
    const sign = (secret: string, exp: number) => new SignJWT({ project_id: 'proj-a' }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(exp).sign(new TextEncoder().encode(secret));
    const now = Math.floor(Date.now() / 1000);
    // One reply queue per request: a collector reads (and deletes) everything on its queue.
    const [q1, q2, q3] = await Promise.all([rig.clientQueue(), rig.clientQueue(), rig.clientQueue()]);
    const forged = request({ project: 'proj-a' }, { replyTo: q1, token: await sign('another-secret-of-at-least-32-bytes!!', now + 600) });
    const expired = request({ project: 'proj-a' }, { replyTo: q2, token: await sign(JWT_SECRET, now - 600) });
    const valid = request({ servers: [rig.hosts[0]!.servers[2]!.id, rig.hosts[1]!.servers[2]!.id] }, { replyTo: q3, token: await sign(JWT_SECRET, now + 600) });
    await handler(sqsEvent(JSON.stringify(forged), JSON.stringify(expired), JSON.stringify(valid)), lambdaContext());
    expect((await unexpandable(q1, forged.requestId)).error).toEqual({ code: 'Unauthorized', message: 'The token signature is not valid.' });
    expect((await unexpandable(q2, expired.requestId)).error).toEqual({ code: 'Unauthorized', message: 'The token has expired.' });
    const batch = await collectBatch(rig.aws.sqs, q3, valid.requestId);
    expect(batch.replies.map((r) => [r.ok, r.ok ? '' : r.error.code])).toEqual([[true, ''], [false, 'ServerNotFound']]);
  });

  it('an agent answers only its own allowed client queues: a queue the router allows but the agents do not gets the refusal from the router, no output', async () => {
    const namespace = rig.aws.env.VMCONSOLE_TABLE!.replace(/-directory$/, '');
    const otherPrefix = `${rig.clientPrefix.slice(0, rig.clientPrefix.lastIndexOf('/') + 1)}${namespace}-other-`;
    const deps = createRouterDependencies({
      ...rig.aws.env, VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: `${rig.clientPrefix},${otherPrefix}`,
      VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: '0', VMCONSOLE_QUEUE_RATE_API_PER_S: '0',
    }, { logger: rig.deps.logger, requester: rig.deps.requester, directory: rig.deps.directory });
    const replyTo = await rig.clientQueue(`${namespace}-other-`);
    const body = request({ servers: rig.hosts[0]!.servers.slice(0, 2).map((s) => s.id) }, { replyTo });
    await createHandler(deps)(sqsEvent(JSON.stringify(body)), lambdaContext());
    const batch = await collectBatch(rig.aws.sqs, replyTo, body.requestId, { timeoutMs: 8_000 });
    expect(batch.complete).toBe(true);
    for (const reply of batch.replies) expect(reply).toMatchObject({ ok: false, error: { code: 'Forbidden', message: 'The compute host does not answer this reply queue.' } });
  });
});

describe('rate limits, counted in servers per project', () => {
  it('a request beyond the project\'s budget is answered RateLimited per server, with when to retry; another project is not affected', async () => {
    const handler = createHandler({ ...rig.deps, limiter: new KeyedRateLimiter({ perKey: { ratePerSecond: 1, burst: 4 }, global: { ratePerSecond: 0, burst: 1 } }) });
    const [q1, q2, q3] = await Promise.all([rig.clientQueue(), rig.clientQueue(), rig.clientQueue()]);
    const a = rig.hosts[0]!.servers.map((s) => s.id);
    const first = request({ servers: a }, { replyTo: q1, token: 'alice:proj-a' });
    const second = request({ servers: a.slice(0, 2) }, { replyTo: q2, token: 'alice:proj-a' });
    const other = request({ servers: [rig.hosts[1]!.servers[0]!.id] }, { replyTo: q3, token: 'bob:proj-b' });
    await handler(sqsEvent(JSON.stringify(first)), lambdaContext());
    await handler(sqsEvent(JSON.stringify(second), JSON.stringify(other)), lambdaContext());
    expect((await collectBatch(rig.aws.sqs, q1, first.requestId)).replies.every((r) => r.ok)).toBe(true);
    const limited = await collectBatch(rig.aws.sqs, q2, second.requestId);
    expect(limited.replies).toHaveLength(2);
    for (const reply of limited.replies) expect(reply).toMatchObject({ ok: false, error: { code: 'RateLimited', message: expect.stringMatching(/^This request was rate-limited \(2 servers\)\. Retry after \d+ s\.$/) } });
    expect((await collectBatch(rig.aws.sqs, q3, other.requestId)).replies[0]).toMatchObject({ ok: true });
  });
});

describe('our own outages are retried, not answered', () => {
  it('a directory outage fails the record (retry, then DLQ) without a reply', async () => {
    const directory = rig.deps.directory;
    const handler = createHandler({
      ...rig.deps,
      directory: withGetServer(directory, () => Promise.reject(new VmconsoleError('TransportUnavailable', 'The server directory is unavailable. Try again shortly.'))),
    });
    const replyTo = await rig.clientQueue();
    const event = sqsEvent(JSON.stringify(request({ servers: [rig.hosts[0]!.servers[0]!.id] }, { replyTo })));
    expect((await handler(event, lambdaContext())).batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]!.messageId }]);
    expect(await queueDepth(rig.aws.sqs, replyTo)).toBe(0);
  });
});
