import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useConsoleRelayRig } from '../helpers/console-relay-rig.ts';
import { rfbNegotiation, TempestWebSocket } from '../helpers/tempest-websocket.ts';

// A certificate for 127.0.0.1, made with openssl for this file: the tunnel listener speaks TLS itself.
const dir = mkdtempSync(join(tmpdir(), 'vmconsole-tunnel-tls-'));
const certFile = join(dir, 'cert.pem');
const keyFile = join(dir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
const ca = readFileSync(certFile, 'utf8');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const novncUrl = async (rig: ReturnType<typeof useConsoleRelayRig>) => {
  const { status, json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'vnc', type: 'novnc' } });
  expect(status).toBe(200);
  return json.remote_console.url as string;
};

describe('tunnel over TLS (VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE/_KEY_FILE)', () => {
  const rig = useConsoleRelayRig({ tunnelTls: { certFile, keyFile, ca } });

  it('agents are told wss://, and a host trusting the certificate carries an RFB session', async () => {
    expect(rig.relay.addresses.tunnel).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/tunnel$/);
    const ws = await TempestWebSocket.open(await novncUrl(rig));
    try {
      expect(ws.upgraded).toBe(true);
      await rfbNegotiation(ws);
    } finally {
      ws.close();
    }
    expect(rig.host.connects.at(-1)!.tunnelUrl.startsWith('wss://')).toBe(true);
  });

  it('a plain ws:// dial to the TLS listener never upgrades', async () => {
    const plain = rig.relay.addresses.tunnel.replace('wss://', 'ws://');
    const outcome = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${plain}/x`);
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      ws.once('error', () => resolve('error'));
    });
    expect(outcome).not.toBe('open');
  });
});

describe('tunnel over TLS, a host that does not trust the certificate', () => {
  const rig = useConsoleRelayRig({ tunnelTls: { certFile, keyFile, ca: undefined } });

  it('cannot dial: the browser socket ends with no byte', async () => {
    const ws = await TempestWebSocket.open(await novncUrl(rig));
    const { bytes, ended } = await ws.drain(8_000);
    expect(ended).toBe(true);
    expect(bytes.length).toBe(0);
  });
});
