import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { KeystoneTokenValidator, type KeystoneCredentials } from './keystone.ts';

/**
 * How the edge authenticates callers, read once per execution environment from:
 *   VMCONSOLE_AUTH_MODE      `noauth` (Nova's noauth2: token `user:project`), `jwt` or `keystone`
 *   VMCONSOLE_STAGE          the serverless stage (serverless.yml sets it); any stage but `local`
 *                            is deployed, and a deployed jwt mode must check iss and aud.
 *                            Unset (tests, tools) counts as local.
 *   VMCONSOLE_JWT_SECRET     jwt: HS256 shared secret (>= 32 bytes)          } exactly one
 *   VMCONSOLE_JWKS_URL       jwt: JWKS of RS256/ES256 keys (https, or http    } of these
 *                            on a loopback host for local identity providers)
 *   VMCONSOLE_JWT_ISSUER     jwt: required `iss`; must be set in a deployed stage
 *   VMCONSOLE_JWT_AUDIENCE   jwt: required `aud`; must be set in a deployed stage
 *   VMCONSOLE_JWT_PROFILE    jwt: `standard` (default) or `keystone-jws`: the JWKS holds Keystone's
 *                            JWS public keys (ES256/ES384/ES512/EdDSA); Keystone puts no iss or
 *                            aud in its tokens, so they are not required (and may not be set)
 *   VMCONSOLE_JWT_MAX_LIFETIME_S  jwt: the longest a token may live (exp - iat, and exp - now);
 *                            default 86400 (24 h)
 *   VMCONSOLE_KEYSTONE_URL   keystone: the identity endpoint (`https://keystone.example.com` or its
 *                            `/v3`; https, or http on a loopback host)
 *   VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID, _SECRET           } keystone: vmconsole's own
 *   or VMCONSOLE_KEYSTONE_USERNAME, _PASSWORD, _PROJECT_NAME, } credentials, exactly one kind
 *      _USER_DOMAIN_NAME, _PROJECT_DOMAIN_NAME (both `Default`) }
 *   VMCONSOLE_KEYSTONE_TIMEOUT_MS  keystone: bound on each call to Keystone (default 2000)
 *   VMCONSOLE_KEYSTONE_CACHE_S     keystone: how long a validated token is trusted (default 300)
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
      /** Seconds: a token whose exp is further than this from its iat (or from now) is refused. */
      maxLifetimeS: number;
      /** `keystone-jws`: the keys are Keystone's JWS keys, whose tokens carry no iss, aud or roles. */
      profile: JwtProfile;
    }
  | {
      mode: 'keystone';
      /** Holds the service token and the token cache: one per execution environment. */
      keystone: KeystoneTokenValidator;
    };

export type JwtProfile = 'standard' | 'keystone-jws';

const MIN_SECRET_BYTES = 32;
export const DEFAULT_JWT_MAX_LIFETIME_S = 24 * 3600;
/** A year: a longer-lived bearer token is a credential, not a session. */
const MAX_JWT_MAX_LIFETIME_S = 366 * 24 * 3600;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

export function fail(problem: string): never {
  throw new Error(`invalid auth configuration: ${problem}`);
}

/** An integer setting within [min, max], or its default when unset. */
export function integerSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = setting(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) fail(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** https, or http on a loopback host (a local identity service); the variable is named in the error. */
export function serviceUrl(name: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(`${name} is not a URL: ${text}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    fail(`${name} must use https (http only on a loopback host)`);
  }
  return url;
}

/** The stage this function runs in, when it is a deployed one (anything but `local`). */
export function deployedStage(env: NodeJS.ProcessEnv): string | undefined {
  const stage = setting(env, 'VMCONSOLE_STAGE');
  return stage === undefined || stage === 'local' ? undefined : stage;
}

export function readAuthConfig(env: NodeJS.ProcessEnv = process.env): AuthConfig {
  const mode = setting(env, 'VMCONSOLE_AUTH_MODE');
  if (mode === 'noauth') return { mode };
  if (mode === 'keystone') return { mode, keystone: new KeystoneTokenValidator(readKeystoneOptions(env)) };
  if (mode !== 'jwt') fail(`VMCONSOLE_AUTH_MODE must be "noauth", "jwt" or "keystone", got ${JSON.stringify(mode ?? '')}`);
  return readJwtConfig(env);
}

/** A refused token stays refused this long without asking Keystone again (bounded by the cache time). */
const KEYSTONE_NEGATIVE_CACHE_MS = 30_000;
/** ~300 bytes each: a few MB at most, whatever a flood of distinct tokens does. */
const KEYSTONE_CACHE_ENTRIES = 5_000;

export function readKeystoneOptions(env: NodeJS.ProcessEnv): ConstructorParameters<typeof KeystoneTokenValidator>[0] {
  const urlText = setting(env, 'VMCONSOLE_KEYSTONE_URL');
  if (!urlText) fail('keystone mode needs VMCONSOLE_KEYSTONE_URL (the identity endpoint, https://keystone.example.com or its /v3)');
  const url = serviceUrl('VMCONSOLE_KEYSTONE_URL', urlText);
  const root = url.href.replace(/\/+$/, '');
  const v3 = root.endsWith('/v3') ? root : `${root}/v3`;

  const named = (suffix: string) => setting(env, `VMCONSOLE_KEYSTONE_${suffix}`);
  const appId = named('APP_CREDENTIAL_ID');
  const appSecret = named('APP_CREDENTIAL_SECRET');
  const username = named('USERNAME');
  const password = named('PASSWORD');
  const projectName = named('PROJECT_NAME');
  let credentials: KeystoneCredentials;
  if (appId || appSecret) {
    if (username || password) fail('set either VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID/_SECRET or VMCONSOLE_KEYSTONE_USERNAME/_PASSWORD, not both');
    if (!appId || !appSecret) fail('an application credential needs both VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID and VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET');
    credentials = { method: 'application_credential', id: appId, secret: appSecret };
  } else {
    if (!username || !password || !projectName) {
      fail('keystone mode needs service credentials: VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID and _SECRET, or VMCONSOLE_KEYSTONE_USERNAME, _PASSWORD and _PROJECT_NAME');
    }
    credentials = {
      method: 'password',
      username,
      password,
      projectName,
      userDomainName: named('USER_DOMAIN_NAME') ?? 'Default',
      projectDomainName: named('PROJECT_DOMAIN_NAME') ?? 'Default',
    };
  }
  const cacheMs = integerSetting(env, 'VMCONSOLE_KEYSTONE_CACHE_S', 300, 0, 3600) * 1000;
  return {
    url: v3,
    credentials,
    timeoutMs: integerSetting(env, 'VMCONSOLE_KEYSTONE_TIMEOUT_MS', 2000, 100, 30_000),
    cacheMs,
    negativeCacheMs: Math.min(cacheMs, KEYSTONE_NEGATIVE_CACHE_MS),
    cacheEntries: KEYSTONE_CACHE_ENTRIES,
  };
}

function readJwtConfig(env: NodeJS.ProcessEnv): AuthConfig & { mode: 'jwt' } {
  const mode = 'jwt';
  const secret = setting(env, 'VMCONSOLE_JWT_SECRET');
  const jwksUrl = setting(env, 'VMCONSOLE_JWKS_URL');
  const issuer = setting(env, 'VMCONSOLE_JWT_ISSUER');
  const audience = setting(env, 'VMCONSOLE_JWT_AUDIENCE');
  const profileText = setting(env, 'VMCONSOLE_JWT_PROFILE') ?? 'standard';
  if (profileText !== 'standard' && profileText !== 'keystone-jws') fail(`VMCONSOLE_JWT_PROFILE must be "standard" or "keystone-jws", got ${JSON.stringify(profileText)}`);
  const profile: JwtProfile = profileText;
  if (profile === 'keystone-jws') {
    if (issuer || audience) fail('VMCONSOLE_JWT_PROFILE=keystone-jws: Keystone JWS tokens carry no iss or aud, so VMCONSOLE_JWT_ISSUER and VMCONSOLE_JWT_AUDIENCE must be unset');
    if (secret || !jwksUrl) fail('VMCONSOLE_JWT_PROFILE=keystone-jws needs VMCONSOLE_JWKS_URL (a JWKS of Keystone\'s JWS public keys), not a secret');
  }
  const stage = deployedStage(env);
  if (stage !== undefined && profile === 'standard' && (!issuer || !audience)) {
    fail(`stage "${stage}" is deployed: set VMCONSOLE_JWT_ISSUER and VMCONSOLE_JWT_AUDIENCE so that only tokens your identity provider issued for vmconsole are accepted (only stage "local" may leave them unset)`);
  }
  const maxLifetimeS = integerSetting(env, 'VMCONSOLE_JWT_MAX_LIFETIME_S', DEFAULT_JWT_MAX_LIFETIME_S, 60, MAX_JWT_MAX_LIFETIME_S);
  const claims = { ...(issuer ? { issuer } : {}), ...(audience ? { audience } : {}), maxLifetimeS, profile };

  if (secret && jwksUrl) fail('set either VMCONSOLE_JWT_SECRET or VMCONSOLE_JWKS_URL, not both');
  if (secret) {
    const key = new TextEncoder().encode(secret);
    if (key.byteLength < MIN_SECRET_BYTES) fail(`VMCONSOLE_JWT_SECRET must be at least ${MIN_SECRET_BYTES} bytes for HS256`);
    return { mode, key: () => key, algorithms: ['HS256'], ...claims };
  }
  if (jwksUrl) {
    const url = serviceUrl('VMCONSOLE_JWKS_URL', jwksUrl);
    // Keystone signs with the one algorithm `[jwt_tokens] jws_algorithm` names, from these.
    const algorithms = profile === 'keystone-jws' ? ['ES256', 'ES384', 'ES512', 'EdDSA'] : ['RS256', 'ES256'];
    return { mode, key: createRemoteJWKSet(url, { timeoutDuration: 3000 }), algorithms, ...claims };
  }
  fail('jwt mode needs VMCONSOLE_JWT_SECRET or VMCONSOLE_JWKS_URL');
}
