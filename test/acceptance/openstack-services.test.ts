import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalStack } from '../../lib/local/local-stack.ts';
import { describeWithOpenStackClients, nova, openstack, type CliAuth } from '../helpers/openstack-cli.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';

// Fleet health with the tools operators already use: `openstack compute service list` and
// `nova service-list` against the `npm start` stack, and what a normal agent stop looks like there.
describeWithOpenStackClients('os-services with the openstack and nova CLIs', () => {
  const demo: CliAuth = { token: 'demo:demo' };
  const admin: CliAuth = { token: 'admin' };
  let running: TestStack | undefined;
  let stack: LocalStack;
  let endpoint: string;

  beforeAll(async () => {
    running = await startTestStack('openstack-services');
    ({ stack, endpoint } = running);
  });
  afterAll(() => running?.stop());

  const serviceList = async (auth: CliAuth = admin) => {
    const res = await openstack(endpoint, auth, ['compute', 'service', 'list', '--long', '-f', 'json']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    return JSON.parse(res.stdout) as Array<Record<string, unknown>>;
  };

  it('openstack compute service list prints the agent\'s host as an enabled, up nova-compute', async () => {
    const table = await openstack(endpoint, admin, ['compute', 'service', 'list']);
    expect(table, table.stderr).toMatchObject({ code: 0 });
    expect(table.stdout).toMatch(/^\|\s+ID \| Binary\s+\| Host\s+\| Zone\s+\| Status\s+\| State\s+\| Updated At\s+\|$/m);
    expect(table.stdout).toMatch(new RegExp(`^\\|\\s+\\d+ \\| nova-compute \\| ${stack.host} \\| nova\\s+\\| enabled\\s+\\| up\\s+\\| \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6} \\|$`, 'm'));

    const filtered = await openstack(endpoint, admin, ['compute', 'service', 'list', '--host', 'no-such-host', '-f', 'json']);
    expect(filtered, filtered.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(filtered.stdout)).toEqual([]);
  });

  it('nova service-list prints the same host', async () => {
    const res = await nova(endpoint, admin, ['service-list']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(res.stdout).toMatch(new RegExp(`^\\| \\d+\\s+\\| nova-compute \\| ${stack.host} \\| nova\\s+\\| enabled \\| up\\s+\\|`, 'm'));
  });

  it('a project user is refused as by Nova\'s policy (403)', async () => {
    const res = await openstack(endpoint, demo, ['compute', 'service', 'list']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/403/);
    expect(res.stderr).toContain("Policy doesn't allow os_compute_api:os-services:list to be performed.");
  });

  it('an agent stopped with SIGTERM marks its host in maintenance: disabled/down with the reason, consoles 409 at once; a restart clears it', async () => {
    const code = once(stack.agent, 'exit');
    stack.agent.kill('SIGTERM');
    expect((await code)[0]).toBe(0);

    const [stopped] = (await serviceList()).filter((s) => s.Host === stack.host);
    expect(stopped).toMatchObject({ Binary: 'nova-compute', Status: 'disabled', State: 'down', 'Disabled Reason': 'maintenance: agent stopped' });

    // 409 from the directory alone: not a wait for the queue's deadline (504).
    const os = await openstack(endpoint, demo, ['console', 'log', 'show', 'web-1']);
    expect(os.code).not.toBe(0);
    expect(os.stderr).toMatch(/^ConflictException: 409: Client Error for url: \S+\/action, The compute host of this server is in maintenance\. Try again later\.$/m);
    const nv = await nova(endpoint, demo, ['console-log', '--length', '2', 'web-1']);
    expect(nv.stderr).toMatch(/^ERROR \(Conflict\): The compute host of this server is in maintenance\. Try again later\. \(HTTP 409\)/m);

    stack.agent = await stack.startAgent();
    const [back] = (await serviceList()).filter((s) => s.Host === stack.host);
    expect(back).toMatchObject({ Status: 'enabled', State: 'up', 'Disabled Reason': null });
    const res = await openstack(endpoint, demo, ['console', 'log', 'show', '--lines', '3', 'web-1']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
  });
});
