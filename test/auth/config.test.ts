import { describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lib/auth/config.ts';

const SECRET = 'a'.repeat(32);

describe('auth configuration fails fast', () => {
  it.each([
    [{}, /VMCONSOLE_AUTH_MODE must be/],
    [{ VMCONSOLE_AUTH_MODE: 'keystone' }, /VMCONSOLE_AUTH_MODE must be/],
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
