/**
 * `vmconsole url` (a real process, the installed bin) against the real `npm start` stack and its
 * console relay: the URL it prints is the relay's and opens a console session through it (an RFB
 * greeting for noVNC, an echoed line for serial). The compute host is the console host stand-in on
 * its real host queue (test/helpers/console-host-stand-in.ts): the demo's files driver has no
 * consoles, so a demo server gives Nova's 400 and the CLI's exit code for an API refusal.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { runCli } from '../helpers/cli-process.ts';
import { consoleKey, startConsoleHostStandIn, type ConsoleHostStandIn } from '../helpers/console-host-stand-in.ts';
import { RFB_DESKTOP_NAME, startEchoServer, startRfbServer, type TcpEndpoint } from '../helpers/rfb-server.ts';
import { rfbNegotiation, TempestWebSocket } from '../helpers/tempest-websocket.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';

const [web1] = DEMO_SERVERS;
const TOKEN_IN_URL = '[0-9a-f-]{36}';

describe('vmconsole url against the local stack and its console relay', () => {
  let t: TestStack | undefined;
  let host: ConsoleHostStandIn | undefined;
  let rfb: TcpEndpoint | undefined;
  let echo: TcpEndpoint | undefined;
  let env: Record<string, string>;
  const server: ServerRecord = {
    id: randomUUID(), name: 'console-cli-1', projectId: 'demo', userId: 'demo', host: 'console-cli-host', hypervisor: 'libvirt', state: 'active', instanceName: 'instance-console-cli-1', updatedAt: Date.now(),
  };

  // The stack's own start is slow on a loaded machine (serverless-offline loads every function).
  beforeAll(async () => {
    t = await startTestStack('cli-url');
    const { stack } = t;
    [rfb, echo] = await Promise.all([startRfbServer(), startEchoServer()]);
    host = await startConsoleHostStandIn({ sqs: createSqsClient(stack.env), env: stack.env }, server.host);
    host.consoles.set(consoleKey(server.id, 'vnc'), { port: rfb.port });
    host.consoles.set(consoleKey(server.id, 'spice'), { port: rfb.port });
    host.consoles.set(consoleKey(server.id, 'serial'), { port: echo.port });
    await stack.directory.putHost({ host: server.host, queueUrl: host.queueUrl, hypervisor: 'libvirt', heartbeatAt: Date.now(), heartbeatIntervalMs: 3_600_000, agentVersion: 'test', protocolMin: MIN_PROTOCOL_VERSION, protocolMax: PROTOCOL_VERSION });
    await stack.directory.putServers([server]);
    env = { VMCONSOLE_URL: stack.url, VMCONSOLE_TOKEN: 'demo:demo' };
  }, 240_000);
  afterAll(async () => {
    await host?.stop();
    await Promise.all([rfb?.stop(), echo?.stop()]);
    await t?.stop();
  });

  const url = (args: string[], extra: Record<string, string> = {}) => runCli(['url', ...args], { env: { ...env, ...extra } });

  const expectRfbGreeting = async (consoleUrl: string) => {
    const ws = await TempestWebSocket.open(consoleUrl);
    try {
      expect(ws.upgraded).toBe(true);
      expect((await rfbNegotiation(ws)).subarray(24).toString()).toBe(RFB_DESKTOP_NAME);
    } finally {
      ws.close();
    }
  };

  it('--novnc by name prints the relay\'s noVNC URL and nothing else; it opens an RFB session through the relay', async () => {
    const run = await url([server.name, '--novnc']);
    expect(run, run.stderr).toMatchObject({ code: 0, stderr: '' });
    const printed = run.stdout.trimEnd();
    expect(run.stdout).toBe(`${printed}\n`);
    expect(printed).toMatch(new RegExp(`^${t!.stack.relay.novnc}/vnc_lite\\.html\\?path=%3Ftoken%3D${TOKEN_IN_URL}$`));
    const page = await fetch(printed);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('noVNC');
    await expectRfbGreeting(printed);
    // The default is noVNC; each run mints a token of its own, which opens too.
    const byDefault = await url([server.id]);
    expect(byDefault.code, byDefault.stderr).toBe(0);
    expect(byDefault.stdout.trimEnd()).toMatch(new RegExp(`^${t!.stack.relay.novnc}/vnc_lite\\.html\\?path=%3Ftoken%3D${TOKEN_IN_URL}$`));
    expect(byDefault.stdout.trimEnd()).not.toBe(printed);
    await expectRfbGreeting(byDefault.stdout.trimEnd());
  });

  it('--serial prints the relay\'s websocket URL, which reaches the serial line; --spice --json the server and Nova\'s remote_console', async () => {
    const serial = await url([server.name, '--serial']);
    expect(serial, serial.stderr).toMatchObject({ code: 0, stderr: '' });
    const serialUrl = serial.stdout.trimEnd();
    expect(serialUrl).toMatch(new RegExp(`^${t!.stack.relay.serial.replace(/^http/, 'ws')}/\\?token=${TOKEN_IN_URL}$`));
    const ws = await TempestWebSocket.open(serialUrl);
    try {
      ws.sendFrame(Buffer.from('uname\r'));
      expect((await ws.receiveFrame())!.toString()).toBe('uname\r');
    } finally {
      ws.close();
    }

    const spice = await url([server.name, '--spice', '--json']);
    expect(spice, spice.stderr).toMatchObject({ code: 0, stderr: '' });
    const shown = JSON.parse(spice.stdout) as { server: unknown; remote_console: { protocol: string; type: string; url: string } };
    expect(shown.server).toEqual({ id: server.id, name: server.name });
    expect(shown.remote_console).toEqual({ protocol: 'spice', type: 'spice-html5', url: expect.stringMatching(new RegExp(`^${t!.stack.relay.spice}/spice_auto\\.html\\?token=${TOKEN_IN_URL}$`)) });
  });

  it('an OS_COMPUTE_API_VERSION older than 2.6 still gets a URL (the CLI asks at 2.6); a newer one is honoured', async () => {
    for (const version of ['2.1', '2.8']) {
      const run = await url([server.name, '--novnc'], { OS_COMPUTE_API_VERSION: version });
      expect(run.code, `${version}: ${run.stderr}`).toBe(0);
      await expectRfbGreeting(run.stdout.trimEnd());
    }
  });

  it('a server without that console (the files driver has none): Nova\'s 400 in Nova\'s words, exit 6, nothing on stdout, no host detail', async () => {
    const run = await url([web1!.name, '--novnc']);
    // 6 as `vmconsole --help` documents it ("the API answered an error"), not whatever the constant holds.
    expect(run.code).toBe(6);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(new RegExp(`^vmconsole: novnc console of ${web1!.name}: Unavailable console type vnc\\. \\(badRequest, request req-[0-9a-f-]{36}\\)\\n$`));

    const json = await url([web1!.name, '--serial', '--json']);
    expect(json.code).toBe(6);
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: 'badRequest', message: `serial console of ${web1!.name}: Unavailable console type serial.`, exitCode: 6, requestId: expect.stringMatching(/^req-[0-9a-f-]{36}$/) },
    });
  });
});
