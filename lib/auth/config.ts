import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';

/**
 * How the edge authenticates callers, read once per execution environment from:
 *   VMCONSOLE_AUTH_MODE      `noauth` (Nova's noauth2: token `user:project`) or `jwt`
 *   VMCONSOLE_JWT_SECRET     jwt: HS256 shared secret (>= 32 bytes)          } exactly one
 *   VMCONSOLE_JWKS_URL       jwt: JWKS of RS256/ES256 keys (https, or http    } of these
 *                            on a loopback host for local identity providers)
 *   VMCONSOLE_JWT_ISSUER     jwt: required `iss`, when set
 *   VMCONSOLE_JWT_AUDIENCE   jwt: required `aud`, when set
 * Empty strings count as unset (serverless.yml passes '' for unset variables). Anything else
 * invalid throws at start-up, so a misconfigured function never serves a request.
 */
export type AuthConfig =
  | { mode: 'noauth' }
  | {
      mode: 'jwt';
      /** Both key sources behind one shape: a shared secret is a key getter that always answers it. */
      key: JWTVerifyGetKey;
      algorithms: string[];
      issuer?: string;
      audience?: string;
    };

const MIN_SECRET_BYTES = 32;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function fail(problem: string): never {
  throw new Error(`invalid auth configuration: ${problem}`);
}

export function readAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const mode = setting(env, 'VMCONSOLE_AUTH_MODE');
  if (mode === 'noauth') return { mode };
  if (mode !== 'jwt') fail(`VMCONSOLE_AUTH_MODE must be "noauth" or "jwt", got ${JSON.stringify(mode ?? '')}`);

  const secret = setting(env, 'VMCONSOLE_JWT_SECRET');
  const jwksUrl = setting(env, 'VMCONSOLE_JWKS_URL');
  const issuer = setting(env, 'VMCONSOLE_JWT_ISSUER');
  const audience = setting(env, 'VMCONSOLE_JWT_AUDIENCE');
  const claims = { ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}) };

  if (secret && jwksUrl) fail('set either VMCONSOLE_JWT_SECRET or VMCONSOLE_JWKS_URL, not both');
  if (secret) {
    const key = new TextEncoder().encode(secret);
    if (key.byteLength < MIN_SECRET_BYTES) fail(`VMCONSOLE_JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes for HS256`);
    return { mode, key: () => key, algorithms: ['HS256'], ...claims };
  }
  if (jwksUrl) {
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch {
      fail(`VMCONSOLE_JWKS_URL is not a URL: ${jwksUrl}`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
      fail('VMCONSOLE_JWKS_URL must use https (http only on a loopback host)');
    }
    return { mode, key: createRemoteJWKSet(url, { timeoutDuration: 3000 }), algorithms: ['RS256', 'ES256'], ...claims };
  }
  fail('jwt mode needs VMCONSOLE_JWT_SECRET or VMCONSOLE_JWKS_URL');
}
