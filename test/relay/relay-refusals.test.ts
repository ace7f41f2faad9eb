import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConsoleTokenRecord, tokenHash } from '../../lib/remote-consoles/console-tokens.ts';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { consoleKey } from '../helpers/console-host-stand-in.ts';
import { useConsoleRelayRig, type ConsoleRelayRig } from '../helpers/console-relay-rig.ts';
import { rfbNegotiation, TempestWebSocket } from '../helpers/tempest-websocket.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

type Protocol = 'vnc' | 'spice' | 'serial';
const TYPE = { vnc: 'novnc', spice: 'spice-html5', serial: 'serial' } as const;

async function tokenFor(rig: ConsoleRelayRig, protocol: Protocol, serverId = rig.servers.vm.id, auth = 'alice:proj-a'): Promise<string> {
  const { status, json } = await rig.remoteConsole(serverId, { remote_console: { protocol, type: TYPE[protocol] } }, { token: auth });
  expect(status, JSON.stringify(json)).toBe(200);
  const url = new URL(json.remote_console.url);
  return protocol === 'vnc' ? url.searchParams.get('path')!.replace('?token=', '') : url.searchParams.get('token')!;
}

function listenerOf(rig: ConsoleRelayRig, protocol: Protocol): string {
  return rig.relay.addresses[protocol === 'vnc' ? 'novnc' : protocol];
}

/** A browser-like client (ws): what it received, and how the relay ended it. */
async function browser(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; opened: boolean; messages: Buffer[]; closed: Promise<{ code: number }> }> {
  const ws = new WebSocket(url, ['binary'], { headers, perMessageDeflate: false });
  const messages: Buffer[] = [];
  ws.on('message', (data) => messages.push(data as Buffer));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number }>((resolve) => ws.once('close', (code) => resolve({ code })));
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('unexpected-response', () => resolve(false));
    ws.once('close', () => resolve(false));
  });
  return { ws, opened, messages, closed };
}

/** Refused the Nova way: the 101 came, then the connection ended with no frame at all (1006: no close frame). */
async function expectRefused(url: string, headers: Record<string, string> = {}): Promise<void> {
  const b = await browser(url, headers);
  expect(b.opened).toBe(true);
  expect((await b.closed).code).toBe(1006);
  expect(b.messages).toEqual([]);
}

/** Accepted: the console's first bytes arrive (RFB's version for VNC and SPICE here; an echo for serial). */
async function expectAccepted(url: string, headers: Record<string, string> = {}): Promise<void> {
  const b = await browser(url, headers);
  expect(b.opened).toBe(true);
  await waitFor(() => b.messages.length > 0, 5_000, 'the console\'s first bytes');
  expect(b.messages[0]!.toString()).toBe('RFB 003.008\n');
  b.ws.close();
  await b.closed;
}

describe('relay: sessions and refusals', () => {
  const rig = useConsoleRelayRig({
    relayEnv: {
      VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER: '2',
      VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT: '3',
      VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS: '1000',
      VMCONSOLE_RELAY_HANDSHAKE_TIMEOUT_MS: '500',
      VMCONSOLE_RELAY_MAX_FRAME_BYTES: '4096',
    },
  });

  it('serial: bytes both ways, every chunk its own binary frame; a client\'s text frames reach the line as bytes', async () => {
    const token = await tokenFor(rig, 'serial');
    // tempest's serial URL: ws://host:port/?token=T -> GET /websockify with the token only in the cookie.
    const ws = await TempestWebSocket.open(`${listenerOf(rig, 'serial')}/?token=${token}`);
    try {
      expect(ws.upgraded).toBe(true);
      ws.sendFrame(Buffer.from('echo hi\r'));
      expect((await ws.receiveFrame())!.toString()).toBe('echo hi\r');
    } finally {
      ws.close();
    }
    const b = await browser(`${listenerOf(rig, 'serial').replace('http', 'ws')}/?token=${token}`);
    b.ws.send('ls\r'); // a text frame, as xterm's attach addon sends keystrokes
    await waitFor(() => b.messages.length > 0, 5_000, 'the echo');
    expect(Buffer.concat(b.messages).toString()).toBe('ls\r');
    expect(rig.echo.received.map(String)).toContain('ls\r');
    b.ws.close();
  });

  it('SPICE: spice_auto.html is served, and the socket takes the token from the cookie its page sets', async () => {
    const { json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'spice', type: 'spice-html5' } });
    const url = json.remote_console.url as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/spice_auto\.html\?token=[0-9a-f-]{36}$/);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('spice_set_cookie');
    const token = new URL(url).searchParams.get('token')!;
    await expectAccepted(`${listenerOf(rig, 'spice').replace('http', 'ws')}/websockify`, { Cookie: `token=${token}` });
  });

  it('a token for one console type opens nothing at another type\'s listener', async () => {
    const serial = await tokenFor(rig, 'serial');
    await expectRefused(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${serial}`);
    const vnc = await tokenFor(rig, 'vnc');
    await expectRefused(`${listenerOf(rig, 'serial').replace('http', 'ws')}/?token=${vnc}`);
  });

  it('origins: none (non-browser) and allowed ones pass; others, and a scheme that is not the URL\'s, are refused', async () => {
    const token = await tokenFor(rig, 'vnc');
    const novnc = listenerOf(rig, 'vnc');
    const url = `${novnc.replace('http', 'ws')}/?token=${token}`;
    await expectAccepted(url);
    await expectAccepted(url, { Origin: novnc });
    await expectAccepted(url, { Origin: 'http://console.example.test' });
    await expectRefused(url, { Origin: 'http://evil.example.test' });
    await expectRefused(url, { Origin: novnc.replace('http:', 'https:') });
    await expectRefused(url, { Origin: 'null' });
    // A TLS-terminating proxy's X-Forwarded-Proto is the scheme that counts, as in Nova.
    await expectRefused(url, { Origin: novnc, 'X-Forwarded-Proto': 'https' });
  });

  it('a Host header is trusted for its own request only: it never widens the allow-list for the next', async () => {
    const token = await tokenFor(rig, 'vnc');
    const novnc = listenerOf(rig, 'vnc');
    const port = new URL(novnc).port;
    // A page served under the name the client used (DNS names the relay by) is same-origin, as in Nova.
    const first = await TempestWebSocket.open(novnc, { path: `?token=${token}`, host: `evil.example.test:${port}`, extraHeaders: { Origin: `http://evil.example.test:${port}` } });
    expect(first.upgraded).toBe(true);
    await rfbNegotiation(first);
    first.close();
    // The next request, under the relay's own name, from that origin: refused.
    const second = await TempestWebSocket.open(novnc, { path: `?token=${token}`, extraHeaders: { Origin: `http://evil.example.test:${port}` } });
    const { bytes, ended } = await second.drain(3_000);
    expect(ended).toBe(true);
    expect(bytes.length).toBe(0);
  });

  it('expired tokens are refused even while DynamoDB still holds them', async () => {
    const grant = ConsoleTokenRecord.omit({ pk: true, expiresAtMs: true, expiresAt: true }).parse({
      serverId: rig.servers.vm.id, projectId: 'proj-a', protocol: 'vnc', consoleType: 'novnc', host: 'h-console', port: rig.rfb.port, tlsPort: null, accessUrlBase: `${listenerOf(rig, 'vnc')}/vnc_lite.html`,
    });
    const { token } = await rig.tokens.mint(grant, 1);
    await expectAccepted(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${token}`);
    await sleep(1_100);
    await expectRefused(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${token}`);
    const { Items = [] } = await rig.aws.ddb.send(new ScanCommand({ TableName: rig.relayEnv.VMCONSOLE_CONSOLE_TOKENS_TABLE }));
    expect(Items.some((i) => i.pk === tokenHash(token))).toBe(true);
  });

  it('only the SHA-256 of a token is stored', async () => {
    const token = await tokenFor(rig, 'vnc');
    const { Items = [] } = await rig.aws.ddb.send(new ScanCommand({ TableName: rig.relayEnv.VMCONSOLE_CONSOLE_TOKENS_TABLE }));
    expect(JSON.stringify(Items)).not.toContain(token);
    expect(Items.find((i) => i.pk === tokenHash(token))).toMatchObject({ serverId: rig.servers.vm.id, projectId: 'proj-a', consoleType: 'novnc', host: 'h-console', port: rig.rfb.port });
  });

  it('a token is revoked when its server moves host or is deleted', async () => {
    const { peer } = rig.servers;
    const token = await tokenFor(rig, 'vnc', peer.id);
    const url = `${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${token}`;
    await expectAccepted(url);
    await rig.aws.directory.putServers([{ ...peer, host: 'h-elsewhere' }]);
    await expectRefused(url);
    // Moving back does not bring it back: the token was deleted on use.
    await rig.aws.directory.putServers([peer]);
    await expectRefused(url);
    expect(await rig.tokens.validate(token)).toBeUndefined();

    const again = await tokenFor(rig, 'vnc', peer.id);
    await rig.aws.directory.releaseServer(peer.host, peer.id);
    await expectRefused(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${again}`);
    expect(await rig.tokens.validate(again)).toBeUndefined();
    await rig.aws.directory.putServers([peer]);
  });

  it('sessions are capped per server and per project; a closed session frees its slot', async () => {
    const url = async (serverId = rig.servers.vm.id) => `${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${await tokenFor(rig, 'vnc', serverId)}`;
    const open: WebSocket[] = [];
    for (let i = 0; i < 2; i++) {
      const b = await browser(await url());
      await waitFor(() => b.messages.length > 0, 5_000, 'a session');
      open.push(b.ws);
    }
    await expectRefused(await url());
    // proj-a's third session, on another server, is within its cap of 3; the fourth is not.
    const third = await browser(await url(rig.servers.peer.id));
    await waitFor(() => third.messages.length > 0, 5_000, 'a third session');
    await expectRefused(await url(rig.servers.peer.id));
    // Another project is not affected.
    const { status, json } = await rig.remoteConsole(rig.servers.other.id, { remote_console: { protocol: 'vnc', type: 'novnc' } }, { token: 'bob:proj-b' });
    expect(status).toBe(200);
    await expectAccepted(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/${new URL(json.remote_console.url).searchParams.get('path')}`);
    open[0]!.close();
    third.ws.close();
    await waitFor(() => rig.relay.relay.stats.sessions === 1, 5_000, 'the closed sessions to free their slots');
    await expectAccepted(await url());
    for (const ws of open) ws.close();
    await waitFor(() => rig.relay.relay.stats.sessions === 0, 5_000, 'every session to end');
  });

  it('a host that never dials back: the browser socket is closed, with nothing sent, after the tunnel timeout', async () => {
    const { vm } = rig.servers;
    const token = await tokenFor(rig, 'vnc');
    rig.host.consoles.set(consoleKey(vm.id, 'vnc'), { port: rig.rfb.port, neverDial: true });
    try {
      const started = Date.now();
      await expectRefused(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${token}`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(rig.relay.relay.stats.tunnelsAwaited).toBe(0);
    } finally {
      rig.host.consoles.set(consoleKey(vm.id, 'vnc'), { port: rig.rfb.port });
    }
  });

  it('a port that is no longer the server\'s (a token from before a restart): the host refuses, the browser gets nothing', async () => {
    const { vm } = rig.servers;
    const token = await tokenFor(rig, 'vnc');
    rig.host.consoles.set(consoleKey(vm.id, 'vnc'), { port: rig.echo.port });
    try {
      await expectRefused(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${token}`);
    } finally {
      rig.host.consoles.set(consoleKey(vm.id, 'vnc'), { port: rig.rfb.port });
    }
  });

  it('tunnel dials: forged, malformed and reused tunnel ids are refused with 403 before any upgrade', async () => {
    const tunnel = rig.relay.addresses.tunnel;
    const dial = (url: string) => new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      ws.once('open', () => { ws.close(); resolve(101); });
      ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.once('error', () => resolve(-1));
    });
    const forged = `${crypto.randomUUID()}.${Date.now() + 20_000}.${'A'.repeat(43)}`;
    expect(await dial(`${tunnel}/${forged}`)).toBe(403);
    expect(await dial(`${tunnel}/not-an-id`)).toBe(403);
    // A malformed escape is refused like any bad id (it once threw in the upgrade handler and took the relay down).
    expect(await dial(`${tunnel}/%E0%A4`)).toBe(403);
    // Replay the id of a session that was set up: single use.
    const b = await browser(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${await tokenFor(rig, 'vnc')}`);
    await waitFor(() => b.messages.length > 0, 5_000, 'a session');
    expect(await dial(rig.host.connects.at(-1)!.tunnelUrl)).toBe(403);
    b.ws.close();
    // A plain GET on the tunnel port serves nothing.
    expect((await fetch(tunnel.replace('ws', 'http'))).status).toBe(404);
  });

  it('an oversized frame from a browser ends its session (1009), the console is not sent it', async () => {
    const b = await browser(`${listenerOf(rig, 'serial').replace('http', 'ws')}/?token=${await tokenFor(rig, 'serial')}`);
    const before = rig.echo.received.length;
    await sleep(200);
    b.ws.send(Buffer.alloc(8192, 0x41));
    expect((await b.closed).code).toBe(1009);
    await sleep(100);
    expect(rig.echo.received.slice(before).some((chunk) => chunk.length >= 4096)).toBe(false);
  });

  it('hundreds of half-open requests are cut at the handshake timeout while real sessions still open', async () => {
    const { port } = new URL(listenerOf(rig, 'vnc'));
    const sockets = await Promise.all(Array.from({ length: 200 }, () => new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: Number(port) }, () => {
        s.write('GET /?token=x HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n');
        resolve(s);
      });
      s.on('error', reject);
    })));
    const closed = sockets.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
    await expectAccepted(`${listenerOf(rig, 'vnc').replace('http', 'ws')}/?token=${await tokenFor(rig, 'vnc')}`);
    await Promise.race([Promise.all(closed), sleep(5_000).then(() => { throw new Error('half-open requests were not cut'); })]);
  });

  it('static files: no traversal, no listing, no // paths; the pages carry their licences\' files', async () => {
    const novnc = listenerOf(rig, 'vnc');
    const status = async (path: string) => new Promise<number>((resolve, reject) => {
      // Raw requests: fetch would normalise the dots away before sending.
      const s = connect({ host: '127.0.0.1', port: Number(new URL(novnc).port) }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let head = '';
      s.on('data', (d) => { head += d.toString('latin1'); });
      s.on('end', () => resolve(Number(head.split(' ')[1])));
      s.on('error', reject);
    });
    expect(await status('/vnc_lite.html')).toBe(200);
    expect(await status('/novnc/core/rfb.js')).toBe(200);
    expect(await status('/novnc/LICENSE.txt')).toBe(200);
    expect(await status('/novnc/core/../../package.json')).toBe(404);
    expect(await status('/novnc/core/%2e%2e/%2e%2e/%2e%2e/package.json')).toBe(404);
    expect(await status('/novnc/core/..%2f..%2fpackage.json')).toBe(404);
    expect(await status('/novnc/core/..%5c..%5cpackage.json')).toBe(404);
    expect(await status('/novnc/core/')).toBe(404);
    expect(await status('/novnc/core/util')).toBe(404);
    expect(await status('/')).toBe(404);
    expect(await status('//evil.example.test/')).toBe(400);
    expect(await status('/../../../../etc/passwd')).toBe(404);
    expect(await status('/vnc_lite.html%00.js')).toBe(404);
    const serial = await fetch(`${listenerOf(rig, 'serial')}/serial.html`);
    expect(serial.status).toBe(200);
    expect(await serial.text()).toContain('xterm');
    expect((await fetch(`${listenerOf(rig, 'serial')}/xterm/lib/xterm.mjs`)).status).toBe(200);
    expect((await fetch(`${novnc}/vnc_lite.html`, { method: 'POST' })).status).toBe(405);
  });
});

describe('relay: idle sessions', () => {
  const rig = useConsoleRelayRig({ relayEnv: { VMCONSOLE_RELAY_IDLE_TIMEOUT_S: '1' } });

  it('a session with no byte either way for the idle timeout is closed', async () => {
    const b = await browser(`${listenerOf(rig, 'serial').replace('http', 'ws')}/?token=${await tokenFor(rig, 'serial')}`);
    expect(b.opened).toBe(true);
    const started = Date.now();
    b.ws.send(Buffer.from('x'));
    await waitFor(() => b.messages.length > 0, 5_000, 'the echo');
    expect((await b.closed).code).toBe(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await waitFor(() => rig.host.tunnels.size === 0, 5_000, 'the tunnel to close with the session');
  });
});
