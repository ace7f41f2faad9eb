import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { originAllowed } from '../../lib/relay/origin-check.ts';
import { tokenFromRequest } from '../../lib/relay/token-from-request.ts';
import { MAX_TUNNEL_ID_LIFETIME_MS, signTunnelId, verifyTunnelId } from '../../lib/relay/tunnel-ids.ts';

describe('tunnel ids', () => {
  const secret = randomBytes(32);

  it('verify until they expire, never beyond 30 s, and only with the key that signed them', () => {
    const now = 1_800_000_000_000;
    const { id, session, expiresAtMs } = signTunnelId(secret, 120_000, now);
    expect(expiresAtMs - now).toBe(MAX_TUNNEL_ID_LIFETIME_MS);
    expect(verifyTunnelId(secret, id, now + 29_999)).toEqual({ ok: true, session });
    expect(verifyTunnelId(secret, id, now + 30_000)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyTunnelId(randomBytes(32), id, now)).toEqual({ ok: false, reason: 'signature' });
  });

  it('a changed session or expiry breaks the signature; junk is malformed', () => {
    const now = Date.now();
    const { id } = signTunnelId(secret, 10_000, now);
    const [session, expires, mac] = id.split('.') as [string, string, string];
    expect(verifyTunnelId(secret, `${session}.${Number(expires) + 60_000}.${mac}`, now).ok).toBe(false);
    expect(verifyTunnelId(secret, `${crypto.randomUUID()}.${expires}.${mac}`, now)).toEqual({ ok: false, reason: 'signature' });
    for (const junk of ['', '..', `${id}.x`, id.replace(/.$/, '!'), `${id}%00`]) expect(verifyTunnelId(secret, junk, now).ok).toBe(false);
  });
});

describe('where a token is read from (Nova\'s proxy)', () => {
  it('the query of any path first, then a `token` cookie (quoted values unquoted, malformed parts skipped, the last one wins)', () => {
    expect(tokenFromRequest('/?token=q', 'token=c')).toBe('q');
    expect(tokenFromRequest('/vnc.html?path=x&token=q', undefined)).toBe('q');
    expect(tokenFromRequest('/websockify', 'path=%3Ftoken%3Dx; token="c1"')).toBe('c1');
    expect(tokenFromRequest('/websockify', 'garbage; token=a; token=b')).toBe('b');
    expect(tokenFromRequest('/websockify', 'tokenx=a; xtoken=b')).toBe('');
    expect(tokenFromRequest('/?token=', 'token=c')).toBe('c');
    expect(tokenFromRequest(undefined, undefined)).toBe('');
  });
});

describe('origin check (Nova\'s)', () => {
  const base = 'http://relay.example:6080/vnc_lite.html';
  it('no Origin passes; the request\'s own Host or an allowed name with the base URL\'s scheme passes; nothing else', () => {
    expect(originAllowed({ host: 'relay.example:6080' }, [], base)).toBe(true);
    expect(originAllowed({ origin: 'http://relay.example:6080', host: 'relay.example:6080' }, [], base)).toBe(true);
    expect(originAllowed({ origin: 'http://console.example', host: 'relay.example' }, ['console.example'], base)).toBe(true);
    expect(originAllowed({ origin: 'https://relay.example', host: 'relay.example' }, [], base)).toBe(false);
    expect(originAllowed({ origin: 'http://evil.example', host: 'relay.example' }, ['console.example'], base)).toBe(false);
    expect(originAllowed({ origin: 'http://relay.example', host: 'relay.example' }, [], 'not a url')).toBe(false);
    expect(originAllowed({ origin: 'garbage', host: 'relay.example' }, [], base)).toBe(false);
    expect(originAllowed({ origin: 'https://relay.example', host: 'relay.example' }, [], 'wss://relay.example/')).toBe(true);
    expect(originAllowed({ origin: 'http://relay.example', host: 'relay.example', 'x-forwarded-proto': 'https' }, [], 'https://relay.example/vnc_lite.html')).toBe(true);
  });
});
