import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConsoleOutput, type GetConsoleOutputDeps } from '../../lib/console-output/get-console-output.ts';
import { downAfterMs } from '../../lib/directory/host-liveness.ts';
import type { VmconsoleError } from '../../lib/errors.ts';
import { logRequesterEvents } from '../../lib/transport/log-requester-events.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { okReply, PROTOCOL_VERSION, startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

let fx: EdgeFixture;
let requester: Requester;
const alice = { userId: 'alice', projectId: 'proj-a', roles: [], isAdmin: false };
const input = (serverId: string, length: number | null = null, waitMs = 2_000) => ({ principal: alice, serverId, length, requestId: `req-${randomUUID()}`, deadline: Date.now() + waitMs });
const failureOf = (promise: Promise<unknown>) => promise.then(() => undefined, (err: unknown) => err as VmconsoleError);
let deps: GetConsoleOutputDeps;

beforeAll(async () => {
  fx = await startEdgeFixture();
  requester = logRequesterEvents(new Requester({ sqs: createSqsClient(fx.env), replyQueuePrefix: 'usecase-test-reply-', hostQueuePrefix: fx.env.VMCONSOLE_HOST_QUEUE_PREFIX! }), recordingLogger());
  deps = { directory: fx.directory, requester };
});
afterAll(async () => {
  await requester?.close();
  await fx?.stop();
});

describe('getConsoleOutput with the real directory and requester', () => {
  it('returns the host\'s output for the normalised length, and carries the request id to the host', async () => {
    const request = input(fx.servers.web.id, 7);
    expect(await getConsoleOutput(request, deps)).toBe('console of instance-web-1 length=7\n');
    expect(fx.live.requestIds.at(-1)).toBe(request.requestId);
  });

  it('a host is down once silent longer than its heartbeat interval plus the grace; the tenant is not told which host', async () => {
    const host = await fx.directory.getHost('h-live');
    const at = (now: number) => ({ ...deps, now: () => now });
    const atLimit = host!.heartbeatAt + downAfterMs(host!);
    await expect(getConsoleOutput(input(fx.servers.web.id), at(atLimit))).resolves.toContain('instance-web-1');
    const failure = await failureOf(getConsoleOutput(input(fx.servers.web.id), at(atLimit + 1)));
    expect(failure).toMatchObject({ code: 'HostDown', status: 409, message: 'The compute host of this server is down.', detail: 'host h-live: last heartbeat 80s ago' });
  });

  it('a host whose agent was stopped on purpose is HostMaintenance at once, even with a fresh heartbeat (its queue is never tried)', async () => {
    const host = (await fx.directory.getHost('h-silent'))!;
    const server = { ...fx.servers.quiet, id: randomUUID(), name: 'maint-1', host: 'h-maint' };
    await fx.directory.putHost({ ...host, host: 'h-maint', heartbeatAt: Date.now(), maintenance: { since: Date.UTC(2026, 10, 30, 8, 0, 0), reason: 'maintenance: agent stopped' } });
    await fx.directory.putServers([server]);
    const failure = await failureOf(getConsoleOutput(input(server.id, null, 5_000), deps));
    expect(failure).toMatchObject({
      code: 'HostMaintenance', status: 409, message: 'The compute host of this server is in maintenance. Try again later.',
      detail: 'host h-maint: maintenance: agent stopped at 2026-11-30T08:00:00.000Z',
    });
  });

  it('a server whose host never registered is NoHost, the host name only in the detail', async () => {
    const failure = await failureOf(getConsoleOutput(input(fx.servers.homeless.id), deps));
    expect(failure).toMatchObject({ code: 'NoHost', status: 409, detail: 'host h-nowhere has no host record' });
    expect(failure!.message).not.toContain('h-nowhere');
  });

  it('a silent host is a HostTimeout at the deadline whose message names the wait, not the host', async () => {
    const started = Date.now();
    const failure = await failureOf(getConsoleOutput(input(fx.servers.quiet.id, null, 800), deps));
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
    expect(failure).toMatchObject({ code: 'HostTimeout', status: 504, message: 'The compute host of this server did not answer within 0.8 s.' });
    expect(failure!.detail).toMatch(/^host h-silent did not answer console\.output request req-/);
  });

  it('an agent\'s {ok:false} becomes the catalogued error with its message and detail', async () => {
    fx.live.script = () => ({ v: PROTOCOL_VERSION, ok: false, error: { code: 'NoConsole', message: 'This server has no console log.', detail: '/var/lib/nova/instances/x/console.log: ENOENT' } });
    try {
      const failure = await failureOf(getConsoleOutput(input(fx.servers.web.id), deps));
      expect(failure).toMatchObject({ code: 'NoConsole', status: 404, message: 'This server has no console log.', detail: 'host h-live: /var/lib/nova/instances/x/console.log: ENOENT' });
    } finally {
      fx.live.script = (req) => okReply(`console of ${req.server.instanceName} length=${JSON.stringify(req.length)}\n`);
    }
  });

  it.each(['Unauthorized', 'RateLimited', 'HostDown', 'TransportUnavailable'] as const)('a host may not answer %s for the edge: it is the host\'s failure (Internal), its words in the detail only', async (code) => {
    fx.live.script = () => ({ v: PROTOCOL_VERSION, ok: false, error: { code, message: 'your token expired, log in at http://evil.example' } });
    try {
      const failure = await failureOf(getConsoleOutput(input(fx.servers.web.id), deps));
      expect(failure).toMatchObject({ code: 'Internal', message: 'The compute host failed to answer.' });
      expect(failure!.detail).toBe(`host h-live (answered ${code}: your token expired, log in at http://evil.example)`);
    } finally {
      fx.live.script = (req) => okReply(`console of ${req.server.instanceName} length=${JSON.stringify(req.length)}\n`);
    }
  });

  it('a result that does not match the kind\'s schema is Internal, never passed through', async () => {
    fx.live.script = () => ({ v: PROTOCOL_VERSION, ok: true, result: { output: 42 } });
    try {
      const failure = await failureOf(getConsoleOutput(input(fx.servers.web.id), deps));
      expect(failure).toMatchObject({ code: 'Internal', message: 'The compute host sent a malformed reply.' });
      expect(failure!.detail).toMatch(/^host h-live sent a console\.output result that does not match its schema/);
    } finally {
      fx.live.script = (req) => okReply(`console of ${req.server.instanceName} length=${JSON.stringify(req.length)}\n`);
    }
  });

  it('sends to the queue named after the host, never to a queue URL an agent wrote into the directory', async () => {
    // An agent (or anyone with write access to the directory) points h-live at a queue it reads.
    const { QueueUrl: trap } = await fx.sqs.send(new CreateQueueCommand({ QueueName: `trap-${randomUUID().slice(0, 8)}` }));
    const live = (await fx.directory.getHost('h-live'))!;
    await fx.directory.putHost({ ...live, queueUrl: trap!, heartbeatAt: Date.now() });
    try {
      expect(await getConsoleOutput(input(fx.servers.web.id, 1), deps)).toBe('console of instance-web-1 length=1\n');
      const { Attributes } = await fx.sqs.send(new GetQueueAttributesCommand({ QueueUrl: trap!, AttributeNames: ['ApproximateNumberOfMessages'] }));
      expect(Attributes?.ApproximateNumberOfMessages).toBe('0');
    } finally {
      await fx.directory.putHost({ ...live, heartbeatAt: Date.now() });
    }
  });
});
