import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** The longest a tunnel id is valid: the agent dials back within seconds or not at all. */
export const MAX_TUNNEL_ID_LIFETIME_MS = 30_000;

function mac(secret: Buffer, body: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('base64url');
}

/**
 * A tunnel id `<session>.<expires ms>.<HMAC>`: what the relay puts in the URL an agent dials for
 * one session. Only the relay instance that signed it checks it; the agent carries it as is.
 */
export function signTunnelId(secret: Buffer, lifetimeMs: number, now: number = Date.now()): { id: string; session: string; expiresAtMs: number } {
  const session = randomUUID();
  const expiresAtMs = now + Math.min(lifetimeMs, MAX_TUNNEL_ID_LIFETIME_MS);
  const body = `${session}.${expiresAtMs}`;
  return { id: `${body}.${mac(secret, body)}`, session, expiresAtMs };
}

/** The session a tunnel id names, if its signature is ours and it has not expired; otherwise why not. */
export function verifyTunnelId(secret: Buffer, id: string, now: number = Date.now()): { ok: true; session: string } | { ok: false; reason: 'malformed' | 'signature' | 'expired' } {
  const match = /^([0-9a-f-]{36})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(id);
  if (!match) return { ok: false, reason: 'malformed' };
  const [, session, expires, signature] = match as unknown as [string, string, string, string];
  const expected = Buffer.from(mac(secret, `${session}.${expires}`));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' };
  if (Number(expires) <= now) return { ok: false, reason: 'expired' };
  return { ok: true, session };
}
