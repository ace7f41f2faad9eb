import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalStack } from '../../lib/local/local-stack.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { describeWithOpenStackClients, nova, openstack, type CliAuth } from '../helpers/openstack-cli.ts';

// What the real clients print when the compute host fails, which Nova answers with a 500 after a
// minute and vmconsole answers fast: 504 naming the host, or 409 when its heartbeat is stale.
describeWithOpenStackClients('openstack and nova CLIs when the compute host fails', () => {
  const demo: CliAuth = { token: 'demo:demo' };
  const REPLY_TIMEOUT_MS = 1500;
  let running: TestStack | undefined;
  let stack: LocalStack;
  let endpoint: string;

  /** The agent's host record, rewritten as if its last heartbeat was at `heartbeatAt`. */
  async function setHeartbeat(heartbeatAt: number): Promise<void> {
    const record = await stack.directory.getHost(stack.host);
    if (!record) throw new Error(`host ${stack.host} is not registered`);
    await stack.directory.putHost({ ...record, heartbeatAt });
  }

  beforeAll(async () => {
    running = await startTestStack('host-failures', { replyTimeoutMs: REPLY_TIMEOUT_MS });
    ({ stack, endpoint } = running);
    // Warm up while the host is alive, so what follows measures the failure, not a cold start.
    const res = await openstack(endpoint, demo, ['console', 'log', 'show', '--lines', '1', 'web-1']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    const exited = once(stack.agent, 'exit');
    stack.agent.kill('SIGKILL');
    await exited;
  });
  afterAll(() => running?.stop());

  it('a host that never answers: 504 naming the wait (not the host), printed by both clients', async () => {
    await setHeartbeat(Date.now());
    const started = Date.now();
    const os = await openstack(endpoint, demo, ['console', 'log', 'show', 'web-1']);
    const took = Date.now() - started;
    expect(os).toMatchObject({ code: 1, stdout: '' });
    expect(os.stderr).toMatch(/^HttpException: 504: Server Error for url: \S+\/action, The compute host of this server did not answer within 1\.\d s\.$/m);
    // The wait is the configured deadline, not a client or gateway timeout.
    expect(took).toBeGreaterThanOrEqual(REPLY_TIMEOUT_MS);
    expect(took).toBeLessThan(REPLY_TIMEOUT_MS + 10_000);

    await setHeartbeat(Date.now());
    const nv = await nova(endpoint, demo, ['console-log', '--length', '5', 'web-1']);
    expect(nv).toMatchObject({ code: 1, stdout: '' });
    expect(nv.stderr).toMatch(/^ERROR \(ClientException\): The compute host of this server did not answer within 1\.\d s\. \(HTTP 504\)/m);
  });

  it('a host whose heartbeat is stale: 409 at once saying the server\'s host is down (not which), printed by both clients', async () => {
    await setHeartbeat(Date.now() - 10 * 60_000);
    const started = Date.now();
    const os = await openstack(endpoint, demo, ['console', 'log', 'show', 'web-1']);
    const took = Date.now() - started;
    expect(os).toMatchObject({ code: 1, stdout: '' });
    expect(os.stderr).toMatch(/^ConflictException: 409: Client Error for url: \S+\/action, The compute host of this server is down\.$/m);
    expect(took).toBeLessThan(REPLY_TIMEOUT_MS + 5_000);

    const nv = await nova(endpoint, demo, ['console-log', 'web-1']);
    expect(nv).toMatchObject({ code: 1, stdout: '' });
    expect(nv.stderr).toMatch(/^ERROR \(Conflict\): The compute host of this server is down\. \(HTTP 409\)/m);
  });

  it('server show still works while the host is down (it reads only the directory)', async () => {
    const res = await openstack(endpoint, demo, ['server', 'show', '-f', 'json', 'web-1']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(res.stdout)).toMatchObject({ name: 'web-1', status: 'ACTIVE' });
  });
});
