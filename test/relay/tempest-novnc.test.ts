import { describe, expect, it } from 'vitest';
import { useConsoleRelayRig } from '../helpers/console-relay-rig.ts';
import { RFB_DESKTOP_NAME } from '../helpers/rfb-server.ts';
import { rfbNegotiation, TempestWebSocket } from '../helpers/tempest-websocket.ts';

// tempest's api/compute/servers/test_novnc.py, re-implemented against the relay, with a
// scripted compute host (a real RFB 3.8 server reached through a real host queue and tunnel).
describe('tempest noVNC checks', () => {
  const rig = useConsoleRelayRig();

  const novncUrl = async (minor: 'legacy' | '2.6' = '2.6') => {
    if (minor === 'legacy') {
      const { status, json } = await rig.action(rig.servers.vm.id, { 'os-getVNCConsole': { type: 'novnc' } }, { microversion: '2.1' });
      expect(status).toBe(200);
      expect(json.console.type).toBe('novnc');
      return json.console.url as string;
    }
    const { status, json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'vnc', type: 'novnc' } });
    expect(status).toBe(200);
    expect(json.remote_console.type).toBe('novnc');
    return json.remote_console.url as string;
  };

  it('test_novnc: the page has noVNC\'s markers, the socket upgrades and RFB 3.8 negotiates one message per frame', async () => {
    const url = await novncUrl();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/vnc_lite\.html\?path=%3Ftoken%3D[0-9a-f-]{36}$/);
    expect(['http:', 'https:']).toContain(new URL(url).protocol);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<html.*>/);
    expect(html).toContain('</html>');
    expect(html).toContain('noVNC');
    expect(html).toContain('<script');

    const ws = await TempestWebSocket.open(url);
    try {
      expect(ws.upgraded).toBe(true);
      const init = await rfbNegotiation(ws);
      expect(init.subarray(24).toString()).toBe(RFB_DESKTOP_NAME);
    } finally {
      ws.close();
    }
    const connect = rig.host.connects.at(-1)!;
    expect(connect).toMatchObject({ kind: 'console.connect', protocol: 'vnc', port: rig.rfb.port, server: { id: rig.servers.vm.id, instanceName: rig.servers.vm.instanceName } });
    expect(connect.tunnelUrl.startsWith(rig.relay.addresses.tunnel + '/')).toBe(true);
  });

  it('test_novnc through the 2.1 action (os-getVNCConsole), as tempest does below 2.6', async () => {
    const ws = await TempestWebSocket.open(await novncUrl('legacy'));
    try {
      expect(ws.upgraded).toBe(true);
      await rfbNegotiation(ws);
    } finally {
      ws.close();
    }
  });

  it('test_novnc_bad_token: the socket ends without a single payload byte, and no host is asked', async () => {
    const url = await novncUrl();
    const asked = rig.host.connects.length;
    const bad = url.replace('%3Ftoken%3D', '%3Ftoken%3Dbad');
    const ws = await TempestWebSocket.open(bad);
    const frame = await ws.receiveFrame();
    expect(frame === null || frame.length === 0).toBe(true);
    expect(ws.response.startsWith('HTTP/1.1 101')).toBe(true);
    const { bytes, ended } = await ws.drain(2_000);
    expect(ended).toBe(true);
    expect(bytes.length).toBe(0);
    expect(rig.host.connects.length).toBe(asked);
  });

  it('upgrades at any path: /vnc.html?token= (noVNC\'s vnc.html) and /websockify with only a token cookie', async () => {
    const token = new URLSearchParams(new URL(await novncUrl()).search).get('path')!.replace('?token=', '');
    const base = rig.relay.addresses.novnc;
    for (const [path, cookie] of [[`vnc.html?token=${token}`, 'x=1'], ['websockify', `other=1; token="${token}"`]] as const) {
      const ws = await TempestWebSocket.open(base, { path, cookie });
      try {
        expect(ws.upgraded).toBe(true);
        await rfbNegotiation(ws);
      } finally {
        ws.close();
      }
    }
  });
});
