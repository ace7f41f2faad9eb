import { describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lib/auth/config.ts';

const SECRET = 'a'.repeat(32);

describe('auth configuration fails fast', () => {
  it.each([
    [{}, /VMCONSOLE_AUTH_MODE must be/],
    [{ VMCONSOLE_AUTH_MODE: 'kerberos' }, /VMCONSOLE_AUTH_MODE must be "noauth", "jwt" or "keystone"/],
    [{ VMCONSOLE_AUTH_MODE: 'jwt' }, /needs VMCONSOLE_JWT_SECRET or VMCONSOLE_JWKS_URL/],
    [{ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: '', VMCONSOLE_JWKS_URL: '' }, /needs VMCONSOLE_JWT_SECRET/],
    [{ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: 'short' }, /at least 32 bytes/],
    [{ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET, VMCONSOLE_JWKS_URL: 'https://idp.test/jwks' }, /not both/],
    [{ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWKS_URL: 'not a url' }, /not a URL/],
    [{ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWKS_URL: 'http://idp.example.com/jwks' }, /https/],
  ])('%j is refused', (env, message) => {
    expect(() => readAuthConfig(env)).toThrow(message);
  });

  it('accepts noauth, an HS256 secret, an https JWKS and a loopback http JWKS', () => {
    expect(readAuthConfig({ VMCONSOLE_AUTH_MODE: 'noauth' })).toEqual({ mode: 'noauth' });
    expect(readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET, VMCONSOLE_JWT_ISSUER: 'iss', VMCONSOLE_JWT_AUDIENCE: '' }))
      .toMatchObject({ mode: 'jwt', algorithms: ['HS256'], issuer: 'iss' });
    expect(readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWKS_URL: 'https://idp.example.com/jwks' })).toMatchObject({ algorithms: ['RS256', 'ES256'] });
    expect(readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWKS_URL: 'http://127.0.0.1:9/jwks' })).toMatchObject({ mode: 'jwt' });
  });
});

describe('jwt in a deployed stage', () => {
  const jwt = { VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET };

  it.each([
    [{ ...jwt, VMCONSOLE_STAGE: 'prod' }],
    [{ ...jwt, VMCONSOLE_STAGE: 'dev', VMCONSOLE_JWT_ISSUER: 'https://idp.example.com' }],
    [{ ...jwt, VMCONSOLE_STAGE: 'prod', VMCONSOLE_JWT_AUDIENCE: 'vmconsole', VMCONSOLE_JWT_ISSUER: '' }],
  ])('refuses to start without issuer and audience: %j', (env) => {
    expect(() => readAuthConfig(env)).toThrow(/stage "(prod|dev)" is deployed: set VMCONSOLE_JWT_ISSUER and VMCONSOLE_JWT_AUDIENCE/);
  });

  it('starts with both, and stage local (or no stage) needs neither', () => {
    expect(readAuthConfig({ ...jwt, VMCONSOLE_STAGE: 'prod', VMCONSOLE_JWT_ISSUER: 'https://idp.example.com', VMCONSOLE_JWT_AUDIENCE: 'vmconsole' }))
      .toMatchObject({ issuer: 'https://idp.example.com', audience: 'vmconsole', maxLifetimeS: 86400 });
    expect(readAuthConfig({ ...jwt, VMCONSOLE_STAGE: 'local' })).toMatchObject({ mode: 'jwt' });
    expect(readAuthConfig(jwt)).toMatchObject({ mode: 'jwt' });
  });

  it('checks the maximum lifetime setting', () => {
    expect(readAuthConfig({ ...jwt, VMCONSOLE_JWT_MAX_LIFETIME_S: '3600' })).toMatchObject({ maxLifetimeS: 3600 });
    for (const bad of ['0', '-5', '1e9', 'a day', '99999999']) {
      expect(() => readAuthConfig({ ...jwt, VMCONSOLE_JWT_MAX_LIFETIME_S: bad }), bad).toThrow(/VMCONSOLE_JWT_MAX_LIFETIME_S must be a whole number from 60/);
    }
  });

  it('the keystone-jws profile waives iss/aud (Keystone sets neither) and needs a JWKS', () => {
    const ks = { VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_PROFILE: 'keystone-jws', VMCONSOLE_STAGE: 'prod' };
    expect(readAuthConfig({ ...ks, VMCONSOLE_JWKS_URL: 'https://keys.example.com/keystone-jwks.json' }))
      .toMatchObject({ profile: 'keystone-jws', algorithms: ['ES256', 'ES384', 'ES512', 'EdDSA'] });
    expect(() => readAuthConfig({ ...ks, VMCONSOLE_JWT_SECRET: SECRET })).toThrow(/needs VMCONSOLE_JWKS_URL/);
    expect(() => readAuthConfig({ ...ks, VMCONSOLE_JWKS_URL: 'https://keys.example.com/k', VMCONSOLE_JWT_ISSUER: 'x' })).toThrow(/must be unset/);
    expect(() => readAuthConfig({ ...jwt, VMCONSOLE_JWT_PROFILE: 'oidc' })).toThrow(/VMCONSOLE_JWT_PROFILE must be/);
  });
});
