import { describe, expect, it } from 'vitest';
import { consoleKey } from '../helpers/console-host-stand-in.ts';
import { useConsoleRelayRig } from '../helpers/console-relay-rig.ts';

// The Nova API side of remote consoles (nova/api/openstack/compute/remote_consoles.py): bodies,
// microversions and errors, through the real handlers, a real host queue and the token table.
describe('POST /servers/{id}/remote-consoles and the legacy console actions', () => {
  const rig = useConsoleRelayRig();
  const vnc = { remote_console: { protocol: 'vnc', type: 'novnc' } };

  it('answers {"remote_console": {protocol, type, url}} and nothing else, with Nova\'s URL shapes', async () => {
    const relay = rig.relay.addresses;
    const cases = [
      [{ protocol: 'vnc', type: 'novnc' }, new RegExp(`^${relay.novnc}/vnc_lite\\.html\\?path=%3Ftoken%3D[0-9a-f-]{36}$`)],
      [{ protocol: 'spice', type: 'spice-html5' }, new RegExp(`^${relay.spice}/spice_auto\\.html\\?token=[0-9a-f-]{36}$`)],
      [{ protocol: 'serial', type: 'serial' }, new RegExp(`^${relay.serial.replace('http', 'ws')}/\\?token=[0-9a-f-]{36}$`)],
    ] as const;
    for (const [body, url] of cases) {
      const { status, json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: body });
      expect(status).toBe(200);
      expect(Object.keys(json)).toEqual(['remote_console']);
      expect(Object.keys(json.remote_console).sort()).toEqual(['protocol', 'type', 'url']);
      expect(json.remote_console).toMatchObject(body);
      expect(json.remote_console.url).toMatch(url);
    }
  });

  it('every call mints a new token (Nova\'s tokens are per request)', async () => {
    const a = await rig.remoteConsole(rig.servers.vm.id, vnc);
    const b = await rig.remoteConsole(rig.servers.vm.id, vnc);
    expect(a.json.remote_console.url).not.toBe(b.json.remote_console.url);
  });

  it('is 404 below 2.6 (the route is versioned), and the legacy actions are 404 from 2.6', async () => {
    const below = await rig.remoteConsole(rig.servers.vm.id, vnc, { microversion: '2.5' });
    expect(below.status).toBe(404);
    expect(below.json.itemNotFound.message).toBe('The resource could not be found.');
    for (const action of ['os-getVNCConsole', 'os-getSPICEConsole', 'os-getSerialConsole', 'os-getRDPConsole']) {
      const { status } = await rig.action(rig.servers.vm.id, { [action]: { type: 'novnc' } }, { microversion: '2.6' });
      expect(status, action).toBe(404);
    }
  });

  it('legacy actions (2.1-2.5) answer {"console": {type, url}}; os-getRDPConsole is Nova\'s bare 400', async () => {
    for (const [action, type] of [['os-getVNCConsole', 'novnc'], ['os-getSPICEConsole', 'spice-html5'], ['os-getSerialConsole', 'serial']] as const) {
      const { status, json } = await rig.action(rig.servers.vm.id, { [action]: { type } }, { microversion: '2.5' });
      expect(status, action).toBe(200);
      expect(json).toEqual({ console: { type, url: expect.stringMatching(/token/) } });
    }
    const rdp = await rig.action(rig.servers.vm.id, { 'os-getRDPConsole': { type: 'rdp-html5' } });
    expect(rdp.status).toBe(400);
    expect(rdp.json.badRequest.message).toBe('The server could not comply with the request since it is either malformed or otherwise incorrect.');
    const bad = await rig.action(rig.servers.vm.id, { 'os-getVNCConsole': { type: 'spice-html5' } });
    expect(bad.status).toBe(400);
    expect(bad.json.badRequest.message).toBe("Invalid input for field/attribute type. Value: spice-html5. 'spice-html5' is not one of ['novnc', 'xvpvnc']");
    const missing = await rig.action(rig.servers.vm.id, { 'os-getSerialConsole': {} });
    expect(missing.status).toBe(400);
    expect(missing.json.badRequest.message).toContain("'type' is a required property");
  });

  it('body schemas per microversion, as Nova\'s create_v26 and create_v28', async () => {
    const mks = { remote_console: { protocol: 'mks', type: 'webmks' } };
    const at26 = await rig.remoteConsole(rig.servers.vm.id, mks, { microversion: '2.6' });
    expect(at26.status).toBe(400);
    expect(at26.json.badRequest.message).toBe("Invalid input for field/attribute protocol. Value: mks. 'mks' is not one of ['vnc', 'spice', 'serial', 'rdp']");
    const at28 = await rig.remoteConsole(rig.servers.vm.id, mks, { microversion: '2.8' });
    expect(at28.status).toBe(400);
    expect(at28.json.badRequest.message).toBe('Unavailable console type webmks.');
    const extra = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'vnc', type: 'novnc', x: 1 } });
    expect(extra.status).toBe(400);
    expect(extra.json.badRequest.message).toContain('Additional properties are not allowed');
    const noType = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'vnc' } });
    expect(noType.status).toBe(400);
    expect(noType.json.badRequest.message).toContain("'type' is a required property");
    const spiceDirect = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'spice', type: 'spice-direct' } }, { microversion: '2.8' });
    expect(spiceDirect.status).toBe(400);
  });

  it('400 for console types that are invalid for the protocol or unavailable, in Nova\'s words', async () => {
    const cases: Array<[unknown, string]> = [
      [{ protocol: 'vnc', type: 'xvpvnc' }, 'Invalid console type xvpvnc'],
      [{ protocol: 'vnc', type: 'serial' }, 'Invalid console type serial'],
      [{ protocol: 'serial', type: 'novnc' }, 'Invalid console type novnc'],
      [{ protocol: 'spice', type: 'novnc' }, 'Invalid console type novnc'],
      [{ protocol: 'rdp', type: 'rdp-html5' }, 'Unavailable console type rdp.'],
    ];
    for (const [body, message] of cases) {
      const { status, json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: body });
      expect(status, JSON.stringify(body)).toBe(400);
      expect(json.badRequest.message).toBe(message);
    }
  });

  it('the host decides what a server has: no such console is 400 "Unavailable console type", a driver that cannot is 501', async () => {
    const { vm } = rig.servers;
    rig.host.consoles.set(consoleKey(vm.id, 'spice'), 'no-console');
    rig.host.consoles.set(consoleKey(vm.id, 'serial'), 'not-implemented');
    try {
      const none = await rig.remoteConsole(vm.id, { remote_console: { protocol: 'spice', type: 'spice-html5' } });
      expect(none.status).toBe(400);
      expect(none.json.badRequest.message).toBe('Unavailable console type spice.');
      const cannot = await rig.remoteConsole(vm.id, { remote_console: { protocol: 'serial', type: 'serial' } });
      expect(cannot.status).toBe(501);
      expect(cannot.json.notImplemented.message).toBe('The requested functionality is not supported.');
    } finally {
      rig.host.consoles.set(consoleKey(vm.id, 'spice'), { port: rig.rfb.port });
      rig.host.consoles.set(consoleKey(vm.id, 'serial'), { port: rig.echo.port });
    }
  });

  it('404 for unknown servers and other projects\' servers; 409 for a server that is not active', async () => {
    const unknown = await rig.remoteConsole('0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11', vnc);
    expect(unknown.status).toBe(404);
    expect(unknown.json.itemNotFound.message).toBe('Instance 0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11 could not be found.');
    const foreign = await rig.remoteConsole(rig.servers.other.id, vnc);
    expect(foreign.status).toBe(404);
    const stopped = await rig.remoteConsole(rig.servers.stopped.id, vnc);
    expect(stopped.status).toBe(409);
    expect(stopped.json.conflictingRequest.message).toBe(`Instance ${rig.servers.stopped.id} is not ready`);
    // An admin reaches another project's server, as in Nova.
    const admin = await rig.remoteConsole(rig.servers.other.id, vnc, { token: 'admin:ops' });
    expect(admin.status).toBe(200);
  });
});

describe('remote consoles not configured (no token table)', () => {
  const rig = useConsoleRelayRig({ edgeEnv: { VMCONSOLE_CONSOLE_TOKENS_TABLE: '' } });

  it('every console type is unavailable, as Nova with the console disabled', async () => {
    const { status, json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'vnc', type: 'novnc' } });
    expect(status).toBe(400);
    expect(json.badRequest.message).toBe('Unavailable console type novnc.');
  });
});
