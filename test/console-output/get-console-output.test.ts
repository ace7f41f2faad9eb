import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import { downAfterMs } from '../../lib/directory/host-liveness.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { ReplyChannel } from '../../lib/transport/reply-channel.ts';
import { startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';

let fx: EdgeFixture;
let replyChannel: ReplyChannel;
const alice = { userId: 'alice', projectId: 'proj-a', roles: [], isAdmin: false };

beforeAll(async () => {
  fx = await startEdgeFixture();
  replyChannel = new ReplyChannel({ sqs: createSqsClient(fx.env), namePrefix: 'usecase-test-reply-' });
});
afterAll(async () => {
  await replyChannel?.close();
  await fx?.stop();
});

describe('getConsoleOutput with the real directory and reply channel', () => {
  it('returns the host\'s output for the normalised length', async () => {
    const output = await getConsoleOutput({ principal: alice, serverId: fx.servers.web.id, length: 7 }, { directory: fx.directory, replyChannel, replyTimeoutMs: 2000 });
    expect(output).toBe('console of instance-web-1 length=7\n');
  });

  it('a host is down only once silent longer than its heartbeat interval plus the grace', async () => {
    const host = await fx.directory.getHost('h-live');
    const deps = (now: number) => ({ directory: fx.directory, replyChannel, replyTimeoutMs: 2000, now: () => now });
    const atLimit = host!.heartbeatAt + downAfterMs(host!);
    await expect(getConsoleOutput({ principal: alice, serverId: fx.servers.web.id, length: null }, deps(atLimit))).resolves.toContain('instance-web-1');
    await expect(getConsoleOutput({ principal: alice, serverId: fx.servers.web.id, length: null }, deps(atLimit + 1))).rejects.toMatchObject({
      code: 'HostDown',
      status: 409,
      message: 'Compute host h-live is down (last heartbeat 80s ago).',
    });
  });
});
