import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, importSPKI, SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { authenticate, CLOCK_SKEW_S } from '../../lib/auth/authenticate.ts';
import { readAuthConfig, type AuthConfig } from '../../lib/auth/config.ts';

const SECRET = 'vmconsole-hygiene-secret-of-at-least-32-bytes';
const hs = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET });
const now = () => Math.floor(Date.now() / 1000);

/**
 * Signs header and claims exactly as given (JSON text, so `1e400` reaches the verifier as Infinity,
 * which jose's SignJWT would refuse to produce): what a forger holding the secret could send.
 */
function rawToken(header: object, claimsJson: string, secret = SECRET): string {
  const b64 = (text: string) => Buffer.from(text).toString('base64url');
  const signingInput = `${b64(JSON.stringify(header))}.${b64(claimsJson)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

const sign = (claims: JWTPayload, header: Record<string, unknown> = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(SECRET));

async function refusal(token: string, config: AuthConfig = hs): Promise<string> {
  const err = await authenticate({ 'x-auth-token': token }, config).then(() => undefined, (e: unknown) => e);
  expect(err, 'token accepted').toMatchObject({ code: 'Unauthorized', status: 401 });
  return (err as Error).message;
}

const base = () => ({ sub: 'alice', project_id: 'proj-a', iat: now(), exp: now() + 300 });

describe('jwt hygiene: what a valid signature does not settle', () => {
  it('a well-formed token passes (the baseline the refusals below differ from)', async () => {
    expect(await authenticate({ 'x-auth-token': await sign(base(), { typ: 'JWT' }) }, hs)).toMatchObject({ userId: 'alice', projectId: 'proj-a' });
  });

  it('a forged token (another key) is refused', async () => {
    expect(await refusal(rawToken({ alg: 'HS256' }, JSON.stringify(base()), 'f'.repeat(40)))).toBe('The token signature is not valid.');
  });

  it('sub must be a string', async () => {
    expect(await refusal(await sign({ ...base(), sub: 42 as unknown as string }))).toBe('The token has no valid sub claim.');
    expect(await refusal(rawToken({ alg: 'HS256' }, JSON.stringify({ ...base(), sub: ['alice'] })))).toBe('The token has no valid sub claim.');
  });

  it('an absurd exp is refused: 1e300, and 1e400 (Infinity once parsed)', async () => {
    const { sub, project_id } = base();
    expect(await refusal(rawToken({ alg: 'HS256' }, JSON.stringify({ sub, project_id, exp: 1e300 })))).toMatch(/expires more than 86400 s from now/);
    expect(await refusal(rawToken({ alg: 'HS256' }, `{"sub":"alice","project_id":"proj-a","exp":1e400}`))).toMatch(/expires more than/);
  });

  it('an exp beyond the maximum lifetime from now is refused even without iat', async () => {
    const { sub, project_id } = base();
    expect(await refusal(await sign({ sub, project_id, exp: now() + 86400 + CLOCK_SKEW_S + 60 }))).toMatch(/expires more than 86400 s/);
  });

  it('a future iat is refused beyond the clock skew, accepted within it', async () => {
    expect(await refusal(await sign({ ...base(), iat: now() + CLOCK_SKEW_S + 30 }))).toBe('The token claim iat is in the future.');
    expect(await authenticate({ 'x-auth-token': await sign({ ...base(), iat: now() + 5 }) }, hs)).toMatchObject({ userId: 'alice' });
  });

  it('a lifetime (exp - iat) over the maximum is refused; the maximum is configurable', async () => {
    const longLived = await sign({ ...base(), iat: now() - 86400, exp: now() + 600 });
    expect(await refusal(longLived)).toBe('The token lifetime (exp - iat) is longer than 86400 s.');
    const strict = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET, VMCONSOLE_JWT_MAX_LIFETIME_S: '3600' });
    expect(await refusal(await sign({ ...base(), exp: now() + 7200 }), strict)).toMatch(/3600 s/);
    expect(await authenticate({ 'x-auth-token': await sign(base()) }, strict)).toMatchObject({ userId: 'alice' });
  });

  it('typ is checked where set: JWT and at+jwt pass in any case and with application/; others fail', async () => {
    for (const typ of ['JWT', 'jwt', 'at+jwt', 'AT+JWT', 'application/at+jwt']) {
      expect(await authenticate({ 'x-auth-token': await sign(base(), { typ }) }, hs), typ).toMatchObject({ userId: 'alice' });
    }
    for (const typ of ['JOSE', 'dpop+jwt', 'logout+jwt', 'id_token']) {
      expect(await refusal(await sign(base(), { typ })), typ).toBe('The token type (typ header) is not JWT or at+jwt.');
    }
    expect(await refusal(rawToken({ alg: 'HS256', typ: 7 }, JSON.stringify(base())))).toMatch(/typ header/);
  });

  it('no refusal echoes the token or its claim values', async () => {
    const marker = 'MARKER-d41d8cd9';
    const messages = [
      await refusal(await sign({ ...base(), sub: 42 as unknown as string, jti: marker })),
      await refusal(await sign({ ...base(), iat: now() + 3600, jti: marker })),
      await refusal(await sign({ ...base(), jti: marker }, { typ: marker })),
      await refusal(rawToken({ alg: 'HS256' }, JSON.stringify({ ...base(), jti: marker }), 'f'.repeat(40))),
    ];
    for (const message of messages) expect(message).not.toContain(marker);
  });
});

describe('Keystone JWS tokens in jwt mode', () => {
  // The claims keystone/token/providers/jws/core.py (JWSFormatter.create_token) puts in a
  // project-scoped token: no iss, aud or roles; None-valued claims are dropped.
  const keystoneClaims = () => ({
    sub: 'ee4dfb6e5540447cb3741905149d9b6e',
    iat: now(),
    exp: now() + 3600,
    openstack_methods: ['password'],
    openstack_audit_ids: ['3T2dc1CGQxyJsHdDu1xkcw'],
    openstack_project_id: 'a6944d763bf64ee6a275f1263fae0352',
  });

  it('openstack_project_id is the project, sub the user; without roles nobody is admin', async () => {
    expect(await authenticate({ 'x-auth-token': await sign(keystoneClaims(), { typ: 'JWT' }) }, hs)).toEqual({
      userId: 'ee4dfb6e5540447cb3741905149d9b6e',
      projectId: 'a6944d763bf64ee6a275f1263fae0352',
      roles: [],
      isAdmin: false,
    });
  });

  it('a domain- or system-scoped JWS token is a 403, as in keystone mode; no scope at all is a 401', async () => {
    const { openstack_project_id: _, ...claims } = keystoneClaims();
    for (const scope of [{ openstack_domain_id: 'default' }, { openstack_system: 'all' }]) {
      const err = await authenticate({ 'x-auth-token': await sign({ ...claims, ...scope }) }, hs).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'Forbidden', status: 403, message: expect.stringMatching(/not scoped to a project/) });
    }
    expect(await refusal(await sign(claims))).toBe('The token has no project_id claim.');
  });

  it('openstack_project_id must agree with project_id when both are present, and be a string', async () => {
    expect(await refusal(await sign({ ...keystoneClaims(), project_id: 'other' }))).toMatch(/disagree/);
    expect(await refusal(await sign({ ...keystoneClaims(), openstack_project_id: 7 }))).toBe('The token claim openstack_project_id must be a string.');
  });
});

describe('Keystone JWS tokens with the keystone-jws profile (Keystone\'s public keys as a JWKS)', () => {
  it('verifies ES256 tokens without kid (PyJWT sets only alg and typ) against several keys, as during Keystone key rotation', async () => {
    // keystone-manage create_jws_keypair writes PEM (SPKI) public keys; the README turns them into
    // a JWKS with importSPKI + exportJWK, as here.
    const older = await generateKeyPair('ES256', { extractable: true });
    const current = await generateKeyPair('ES256', { extractable: true });
    const pems = [await exportSPKI(older.publicKey), await exportSPKI(current.publicKey)];
    const keys = await Promise.all(pems.map(async (pem) => ({ ...(await exportJWK(await importSPKI(pem, 'ES256', { extractable: true }))), alg: 'ES256', use: 'sig' })));
    const server = createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const config = readAuthConfig({
        VMCONSOLE_AUTH_MODE: 'jwt',
        VMCONSOLE_JWT_PROFILE: 'keystone-jws',
        VMCONSOLE_STAGE: 'prod',
        VMCONSOLE_JWKS_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/keystone-jwks.json`,
      });
      const claims = { sub: 'ee4dfb6e5540447cb3741905149d9b6e', iat: now(), exp: now() + 3600, openstack_methods: ['password'], openstack_audit_ids: ['x'], openstack_project_id: 'proj-k' };
      for (const key of [older.privateKey, current.privateKey]) {
        const token = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(key);
        expect(await authenticate({ 'x-auth-token': token }, config)).toEqual({ userId: claims.sub, projectId: 'proj-k', roles: [], isAdmin: false });
      }
      const rogue = await generateKeyPair('ES256');
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(rogue.privateKey);
      expect(await refusal(forged, config)).toBe('The token signature is not valid.');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
