import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../lib/auth/authenticate.ts';
import { readAuthConfig, type AuthConfig } from '../../lib/auth/config.ts';

const SECRET = 'vmconsole-test-secret-of-at-least-32-bytes';
const hs = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET });
const hsWithClaims = readAuthConfig({
  VMCONSOLE_AUTH_MODE: 'jwt',
  VMCONSOLE_JWT_SECRET: SECRET,
  VMCONSOLE_JWT_ISSUER: 'https://idp.example.test',
  VMCONSOLE_JWT_AUDIENCE: 'vmconsole',
});

function hsToken(claims: JWTPayload, options: { secret?: string; exp?: string | number | null } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? '5m');
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

async function failure(token: string, config: AuthConfig = hs): Promise<{ code: string; message: string }> {
  const err = await authenticate({ 'x-auth-token': token }, config).then(() => undefined, (e: unknown) => e);
  if (!err) throw new Error('token accepted');
  return err as { code: string; message: string };
}

describe('jwt mode, HS256', () => {
  it('a valid token gives user, project and roles', async () => {
    const token = await hsToken({ sub: 'alice', project_id: 'proj-a', roles: ['member'] });
    expect(await authenticate({ 'x-auth-token': token }, hs)).toEqual({ userId: 'alice', projectId: 'proj-a', roles: ['member'], isAdmin: false });
  });

  it('the admin role makes an administrator; Bearer works too', async () => {
    const token = await hsToken({ sub: 'root', project_id: 'ops', roles: ['admin', 'member'] });
    expect(await authenticate({ authorization: `Bearer ${token}` }, hs)).toMatchObject({ isAdmin: true, projectId: 'ops' });
  });

  it('accepts a Keystone-style project.id, and refuses a disagreeing pair', async () => {
    expect(await authenticate({ 'x-auth-token': await hsToken({ sub: 'u', project: { id: 'p1', name: 'demo' } }) }, hs)).toMatchObject({ projectId: 'p1', roles: [] });
    expect((await failure(await hsToken({ sub: 'u', project_id: 'p1', project: { id: 'p2' } }))).message).toMatch(/disagree/);
  });

  it('refuses an expired token', async () => {
    const f = await failure(await hsToken({ sub: 'u', project_id: 'p' }, { exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(f).toMatchObject({ code: 'Unauthorized', message: 'The token has expired.' });
  });

  it('refuses a token without exp', async () => {
    expect((await failure(await hsToken({ sub: 'u', project_id: 'p' }, { exp: null }))).message).toBe('The token has no exp claim.');
  });

  it('refuses a token signed with another secret', async () => {
    const f = await failure(await hsToken({ sub: 'u', project_id: 'p' }, { secret: 'another-secret-that-is-also-32-bytes-long' }));
    expect(f).toMatchObject({ code: 'Unauthorized', message: 'The token signature is not valid.' });
  });

  it('refuses alg none', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'admin', project_id: 'p', roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 300 })}.`;
    expect(await failure(unsigned)).toMatchObject({ code: 'Unauthorized' });
  });

  it('refuses garbage, a missing project and bad roles', async () => {
    expect((await failure('not-a-jwt')).message).toBe('The token is not a valid signed JWT.');
    expect((await failure(await hsToken({ sub: 'u' }))).message).toBe('The token has no project_id claim.');
    expect((await failure(await hsToken({ sub: 'u', project_id: 'p', roles: 'admin' }))).message).toMatch(/roles must be an array/);
    expect((await failure(await hsToken({ project_id: 'p' }))).message).toBe('The token has no sub claim.');
  });

  it('checks issuer and audience when configured', async () => {
    const good = await hsToken({ sub: 'u', project_id: 'p', iss: 'https://idp.example.test', aud: 'vmconsole' });
    expect(await authenticate({ 'x-auth-token': good }, hsWithClaims)).toMatchObject({ userId: 'u' });
    const wrongAud = await hsToken({ sub: 'u', project_id: 'p', iss: 'https://idp.example.test', aud: 'other' });
    expect((await failure(wrongAud, hsWithClaims)).message).toBe('The token claim aud is not valid.');
    const noIss = await hsToken({ sub: 'u', project_id: 'p', aud: 'vmconsole' });
    expect((await failure(noIss, hsWithClaims)).message).toBe('The token has no iss claim.');
  });
});

describe('jwt mode, JWKS (RS256, ES256) from a real HTTP server', () => {
  let server: Server;
  let jwksUrl: string;
  let rsa: CryptoKey;
  let ec: CryptoKey;
  let rogue: CryptoKey;
  let config: AuthConfig;

  beforeAll(async () => {
    const rsaPair = await generateKeyPair('RS256');
    const ecPair = await generateKeyPair('ES256');
    rsa = rsaPair.privateKey;
    ec = ecPair.privateKey;
    rogue = (await generateKeyPair('RS256')).privateKey;
    const keys = [
      { ...(await exportJWK(rsaPair.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ecPair.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    config = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWKS_URL: jwksUrl });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = (key: CryptoKey, alg: string, kid: string, claims: JWTPayload = { sub: 'dave', project_id: 'proj-d' }) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid }).setExpirationTime('5m').sign(key);

  it('verifies RS256 and ES256 tokens against the JWKS', async () => {
    expect(await authenticate({ 'x-auth-token': await sign(rsa, 'RS256', 'rsa-1') }, config)).toMatchObject({ userId: 'dave', projectId: 'proj-d' });
    expect(await authenticate({ 'x-auth-token': await sign(ec, 'ES256', 'ec-1') }, config)).toMatchObject({ userId: 'dave' });
  });

  it('refuses a token signed by a key outside the JWKS', async () => {
    expect(await failure(await sign(rogue, 'RS256', 'rsa-1'), config)).toMatchObject({ code: 'Unauthorized', message: 'The token signature is not valid.' });
    expect(await failure(await sign(rogue, 'RS256', 'unknown-kid'), config)).toMatchObject({ code: 'Unauthorized' });
  });

  it('refuses HS256 in JWKS mode (algorithms are pinned)', async () => {
    const token = await new SignJWT({ sub: 'u', project_id: 'p' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
    expect(await failure(token, config)).toMatchObject({ code: 'Unauthorized', message: 'The token is signed with an algorithm this service does not accept.' });
  });

  it('an unreachable JWKS is a 503, not the caller\'s fault', async () => {
    const down = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWKS_URL: 'http://127.0.0.1:9/jwks' });
    expect(await failure(await sign(rsa, 'RS256', 'rsa-1'), down)).toMatchObject({ code: 'TransportUnavailable' });
  });
});
