import { describe, expect, it } from 'vitest';
import { readRelayConfig } from '../../lib/relay/relay-config.ts';
import { consoleUrl, readRemoteConsoleConfig } from '../../lib/remote-consoles/console-config.ts';

const base = { VMCONSOLE_CONSOLE_TOKENS_TABLE: 'vmconsole-t-console-tokens', VMCONSOLE_TABLE: 'vmconsole-t-directory' };

describe('relay configuration', () => {
  it('defaults to Nova\'s ports on loopback, a random tunnel key per process and no extra origins', () => {
    const a = readRelayConfig(base);
    expect(a).toMatchObject({ listenHost: '127.0.0.1', ports: { novnc: 6080, spice: 6082, serial: 6083, tunnel: 6084 }, allowedOrigins: [], maxSessionsPerServer: 10, maxSessionsPerProject: 40, tunnelUrl: undefined });
    expect(a.secret.length).toBe(32);
    expect(readRelayConfig(base).secret.equals(a.secret)).toBe(false);
    expect(readRelayConfig({ ...base, VMCONSOLE_CONSOLE_ALLOWED_ORIGINS: ' Console.Example.com, ,b.example ' }).allowedOrigins).toEqual(['console.example.com', 'b.example']);
  });

  it.each([
    [{ VMCONSOLE_CONSOLE_TOKENS_TABLE: '' }, 'VMCONSOLE_CONSOLE_TOKENS_TABLE'],
    [{ VMCONSOLE_RELAY_SECRET: 'short' }, 'VMCONSOLE_RELAY_SECRET: must be at least 32 bytes'],
    [{ VMCONSOLE_RELAY_TUNNEL_URL: 'http://relay:6084/tunnel' }, 'VMCONSOLE_RELAY_TUNNEL_URL'],
    [{ VMCONSOLE_RELAY_TUNNEL_URL: 'wss://relay:6084/tunnel/' }, 'VMCONSOLE_RELAY_TUNNEL_URL'],
    [{ VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS: '60000' }, 'VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS'],
    [{ VMCONSOLE_RELAY_NOVNC_PORT: '70000' }, 'VMCONSOLE_RELAY_NOVNC_PORT'],
    [{ VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER: '0' }, 'VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER'],
    [{ VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: '/etc/hostname' }, 'go together'],
    [{ VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: '/nonexistent.pem', VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE: '/nonexistent.pem' }, 'VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: cannot read /nonexistent.pem: ENOENT'],
    [{ VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: '/etc/hostname', VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE: '/etc/hostname' }, 'is not PEM'],
  ])('refuses %j, naming the variable', (bad, name) => {
    expect(() => readRelayConfig({ ...base, ...bad })).toThrow(name);
  });
});

describe('remote console configuration (the API side)', () => {
  it('defaults to Nova\'s base URLs and TTL; `off` turns a type off; no token table leaves consoles off', () => {
    expect(readRemoteConsoleConfig({})).toEqual({
      tokensTable: undefined,
      baseUrls: { novnc: 'http://127.0.0.1:6080/vnc_lite.html', 'spice-html5': 'http://127.0.0.1:6082/spice_auto.html', serial: 'ws://127.0.0.1:6083/' },
      tokenTtlS: 600,
    });
    expect(readRemoteConsoleConfig({ VMCONSOLE_SPICE_BASE_URL: 'off' }).baseUrls['spice-html5']).toBeUndefined();
  });

  it.each([
    [{ VMCONSOLE_NOVNC_BASE_URL: 'ws://relay/vnc_lite.html' }, 'VMCONSOLE_NOVNC_BASE_URL'],
    [{ VMCONSOLE_SERIAL_BASE_URL: 'http://relay:6083/' }, 'VMCONSOLE_SERIAL_BASE_URL'],
    [{ VMCONSOLE_NOVNC_BASE_URL: 'https://relay/vnc_lite.html?x=1' }, 'VMCONSOLE_NOVNC_BASE_URL'],
    [{ VMCONSOLE_CONSOLE_TOKEN_TTL_S: '0' }, 'VMCONSOLE_CONSOLE_TOKEN_TTL_S'],
  ])('refuses %j, naming the variable', (bad, name) => {
    expect(() => readRemoteConsoleConfig(bad)).toThrow(name);
  });

  it('builds Nova\'s URLs: noVNC\'s `path`, the others\' `token`', () => {
    expect(consoleUrl('novnc', 'https://c.example/vnc_lite.html', 'abc')).toBe('https://c.example/vnc_lite.html?path=%3Ftoken%3Dabc');
    expect(consoleUrl('spice-html5', 'https://c.example/spice_auto.html', 'abc')).toBe('https://c.example/spice_auto.html?token=abc');
    expect(consoleUrl('serial', 'wss://c.example:6083/', 'abc')).toBe('wss://c.example:6083/?token=abc');
  });
});
