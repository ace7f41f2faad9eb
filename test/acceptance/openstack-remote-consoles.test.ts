import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { consoleKey, startConsoleHostStandIn, type ConsoleHostStandIn } from '../helpers/console-host-stand-in.ts';
import { describeWithOpenStackClients, nova, openstack, type CliAuth } from '../helpers/openstack-cli.ts';
import { RFB_DESKTOP_NAME, startEchoServer, startRfbServer, type TcpEndpoint } from '../helpers/rfb-server.ts';
import { rfbNegotiation, TempestWebSocket } from '../helpers/tempest-websocket.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';

// Real Debian clients against the `npm start` stack and its console relay: the console URL an
// operator gets from `openstack console url show` or `nova get-vnc-console` opens a real RFB
// session through the relay. The compute host is the console host stand-in (a real host queue,
// a real RFB server and serial line behind it): the demo's files driver has no consoles.
describeWithOpenStackClients('openstack and nova CLIs: remote console URLs', () => {
  const demo: CliAuth = { token: 'demo:demo' };
  let running: TestStack | undefined;
  let endpoint: string;
  let host: ConsoleHostStandIn | undefined;
  let rfb: TcpEndpoint | undefined;
  let echo: TcpEndpoint | undefined;
  const server: ServerRecord = {
    id: randomUUID(), name: 'console-1', projectId: 'demo', userId: 'demo', host: 'console-host', hypervisor: 'libvirt', state: 'active', instanceName: 'instance-console-1', updatedAt: Date.now(),
  };

  beforeAll(async () => {
    running = await startTestStack('openstack-remote-consoles');
    const { stack } = running;
    endpoint = running.endpoint;
    [rfb, echo] = await Promise.all([startRfbServer(), startEchoServer()]);
    host = await startConsoleHostStandIn({ sqs: createSqsClient(stack.env), env: stack.env }, server.host);
    host.consoles.set(consoleKey(server.id, 'vnc'), { port: rfb.port });
    host.consoles.set(consoleKey(server.id, 'spice'), { port: rfb.port });
    host.consoles.set(consoleKey(server.id, 'serial'), { port: echo.port });
    await stack.directory.putHost({ host: server.host, queueUrl: host.queueUrl, hypervisor: 'libvirt', heartbeatAt: Date.now(), heartbeatIntervalMs: 3_600_000, agentVersion: 'test', protocolMin: MIN_PROTOCOL_VERSION, protocolMax: PROTOCOL_VERSION });
    await stack.directory.putServers([server]);
  }, 180_000);
  afterAll(async () => {
    await host?.stop();
    await Promise.all([rfb?.stop(), echo?.stop()]);
    await running?.stop();
  });

  const expectRfbSession = async (url: string) => {
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('noVNC');
    const ws = await TempestWebSocket.open(url);
    try {
      expect(ws.upgraded).toBe(true);
      expect((await rfbNegotiation(ws)).subarray(24).toString()).toBe(RFB_DESKTOP_NAME);
    } finally {
      ws.close();
    }
  };

  it('openstack console url show --novnc (legacy action at the client\'s default 2.1, remote-consoles at 2.6) opens a VNC session', async () => {
    for (const version of [[], ['--os-compute-api-version', '2.6']]) {
      const res = await openstack(endpoint, demo, [...version, 'console', 'url', 'show', '--novnc', '-f', 'json', server.name]);
      expect(res, res.stderr).toMatchObject({ code: 0 });
      const shown = JSON.parse(res.stdout) as { type: string; url: string; protocol?: string };
      expect(shown.type).toBe('novnc');
      expect(shown.url).toMatch(/\/vnc_lite\.html\?path=%3Ftoken%3D[0-9a-f-]{36}$/);
      if (version.length > 0) expect(shown.protocol).toBe('vnc');
      await expectRfbSession(shown.url);
    }
  });

  it('openstack console url show --spice and --serial print Nova\'s URL shapes', async () => {
    const spice = await openstack(endpoint, demo, ['console', 'url', 'show', '--spice', '-f', 'json', server.name]);
    expect(spice, spice.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(spice.stdout)).toMatchObject({ type: 'spice-html5', url: expect.stringMatching(/\/spice_auto\.html\?token=[0-9a-f-]{36}$/) });
    const serial = await openstack(endpoint, demo, ['console', 'url', 'show', '--serial', '-f', 'json', server.name]);
    expect(serial, serial.stderr).toMatchObject({ code: 0 });
    const url = (JSON.parse(serial.stdout) as { url: string }).url;
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f-]{36}$/);
    const ws = await TempestWebSocket.open(url);
    try {
      ws.sendFrame(Buffer.from('uname\r'));
      expect((await ws.receiveFrame())!.toString()).toBe('uname\r');
    } finally {
      ws.close();
    }
  });

  it('nova get-vnc-console opens a VNC session; errors come through in Nova\'s words', async () => {
    const res = await nova(endpoint, demo, ['get-vnc-console', server.name, 'novnc']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    const url = /(http:\/\/\S+vnc_lite\.html\?path=%3Ftoken%3D[0-9a-f-]{36})/.exec(res.stdout)?.[1];
    expect(url, res.stdout).toBeDefined();
    await expectRfbSession(url!);

    const stopped = await nova(endpoint, demo, ['get-vnc-console', 'web-1', 'novnc']);
    expect(stopped.code).not.toBe(0);
    expect(stopped.stderr).toMatch(/\(HTTP (400|501)\)/);
    const xvp = await nova(endpoint, demo, ['get-vnc-console', server.name, 'xvpvnc']);
    expect(xvp.code).not.toBe(0);
    expect(xvp.stderr).toContain('Invalid console type xvpvnc (HTTP 400)');
  });
});
