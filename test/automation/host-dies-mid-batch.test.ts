/**
 * A host that stops answering while its share of a batch is being answered: the agent is frozen
 * (SIGSTOP) as soon as its first replies reach the client. The servers it answered keep their
 * output; every other one is answered HostTimeout by the router, by the chunk's deadline, and the
 * client's batch completes. The request is routed once although that takes longer than the
 * request queue's visibility timeout (the local poller extends it, as Lambda's does).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { kill } from '../helpers/agent-process.ts';
import { collectBatch, useAutomationRig } from '../helpers/automation-fixture.ts';
import { novaTail } from '../helpers/reliability-fixture.ts';
import { queueDepth } from '../helpers/transport-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const CHUNK_WAIT_MS = 3_000;
const rig = useAutomationRig({
  hosts: [{ host: 'mid-a', servers: 200, projectId: 'proj-m' }],
  // Small chunks one at a time: the host's share takes long enough to be interrupted.
  routerOverrides: { plan: { chunkSize: 5, perHostInFlight: 1, chunkWaitMs: CHUNK_WAIT_MS } },
});

describe('a host dying mid-batch', () => {
  it('its answered servers keep their output, the rest are HostTimeout by the deadline, the batch completes', async () => {
    const { agent, servers } = rig.hosts[0]!;
    const replyTo = await rig.clientQueue();
    const requestId = `req-${randomUUID()}`;
    await rig.send({ v: 1, requestId, replyTo, kind: 'console.output', length: 2, project: 'proj-m' });
    await waitFor(async () => (await queueDepth(rig.aws.sqs, replyTo)) > 0, 15_000, 'the first replies');
    agent.kill('SIGSTOP');
    const frozenAt = Date.now();
    try {
      const batch = await collectBatch(rig.aws.sqs, replyTo, requestId, { timeoutMs: 20_000 });
      expect(batch.complete).toBe(true);
      // The chunk in flight waits out its deadline once; the host's later chunks are answered at once.
      expect(Date.now() - frozenAt).toBeLessThan(CHUNK_WAIT_MS + 5_000);
      const ok = batch.replies.filter((r) => r.ok);
      const timedOut = batch.replies.filter((r) => !r.ok && r.error.code === 'HostTimeout');
      expect(ok.length).toBeGreaterThan(0);
      expect(timedOut.length).toBeGreaterThan(0);
      expect(ok.length + timedOut.length).toBe(servers.length);
      const logs = new Map(servers.map((s) => [s.id, s.log]));
      for (const reply of ok) expect(reply).toMatchObject({ output: novaTail(logs.get(reply.serverId!)!, 2) });
      // The router worked longer than the queue's 2 s visibility timeout: the poller kept the
      // request hidden meanwhile, so it was routed once, not again by a second receive.
      const routed = () => rig.deps.logger.entries.filter((e) => e.message === 'automation request routed' && e.data.requestId === requestId).length;
      await waitFor(() => routed() > 0, 5_000, 'the router to finish');
      await sleep(2_500);
      expect(routed()).toBe(1);
    } finally {
      await kill(agent);
    }
  });
});
