import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../lib/auth/authenticate.ts';
import { readAuthConfig, readKeystoneOptions, type AuthConfig } from '../../lib/auth/config.ts';
import { KeystoneTokenValidator } from '../../lib/auth/keystone.ts';
import { APP_CREDENTIAL, SERVICE_PASSWORD, startKeystoneStandIn, type KeystoneStandIn } from '../helpers/keystone-stand-in.ts';

let ks: KeystoneStandIn;
beforeAll(async () => {
  ks = await startKeystoneStandIn();
});
afterAll(() => ks?.stop());

const serviceUser = () => ({
  VMCONSOLE_AUTH_MODE: 'keystone',
  VMCONSOLE_KEYSTONE_URL: ks.url,
  VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole',
  VMCONSOLE_KEYSTONE_PASSWORD: SERVICE_PASSWORD,
  VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service',
});
/** A fresh validator (its own service token and cache) per test. */
const keystone = (extra: Record<string, string> = {}): AuthConfig => readAuthConfig({ ...serviceUser(), ...extra });
/** The same, on a clock the test moves. */
function onClock(extra: Record<string, string> = {}): { config: AuthConfig; advance(ms: number): void } {
  let offset = 0;
  const validator = new KeystoneTokenValidator({ ...readKeystoneOptions({ ...serviceUser(), ...extra }), now: () => Date.now() + offset });
  return { config: { mode: 'keystone', keystone: validator }, advance: (ms) => (offset += ms) };
}

const as = (token: string, config: AuthConfig) => authenticate({ 'x-auth-token': token }, config);
async function refusal(token: string, config: AuthConfig): Promise<{ code: string; status: number; message: string; detail?: string }> {
  const err = await as(token, config).then(() => undefined, (e: unknown) => e);
  if (!err) throw new Error('token accepted');
  return err as { code: string; status: number; message: string; detail?: string };
}

describe('keystone mode: validation against Keystone', () => {
  it('a project-scoped token gives its user, project and roles; the service token is asked for once, as keystonemiddleware does', async () => {
    const config = keystone();
    const before = ks.issues().length;
    const alice = ks.issue('alice');
    expect(await as(alice, config)).toEqual({ userId: 'a11ce000a11ce000a11ce000a11ce000', projectId: 'proj-a', roles: ['member', 'reader'], isAdmin: false });
    const [validation] = ks.validations(alice);
    expect(validation).toMatchObject({ method: 'GET', path: '/v3/auth/tokens?nocatalog', subjectToken: alice, status: 200 });
    expect(validation!.authToken).not.toBe(alice);
    expect(ks.issues().length).toBe(before + 1);
    expect(ks.calls.find((c) => c.method === 'POST' && c.path === '/v3/auth/tokens?nocatalog')).toBeDefined();
    // A second caller's token reuses the service token.
    await as(ks.issue('root'), config);
    expect(ks.issues().length).toBe(before + 1);
  });

  it('the admin role in the token\'s project makes an administrator (Nova: context_is_admin is role:admin)', async () => {
    expect(await as(ks.issue('root'), keystone())).toEqual({ userId: 'ee4dfb6e5540447cb3741905149d9b6e', projectId: 'ops', roles: ['admin', 'member', 'reader'], isAdmin: true });
  });

  it('an unknown, expired or revoked token is a 401 that echoes nothing of it', async () => {
    const config = keystone();
    const expired = ks.issue('alice', { expiresInS: 0 });
    const revoked = ks.issue('alice');
    expect(await as(revoked, config)).toMatchObject({ projectId: 'proj-a' });
    ks.revoke(revoked);
    for (const token of ['gAAAAAnot-a-real-token', expired]) {
      const f = await refusal(token, config);
      expect(f).toMatchObject({ code: 'Unauthorized', status: 401, message: 'The token is not valid: it has expired, was revoked or is unknown to Keystone.' });
      expect(f.message).not.toContain(token);
    }
    // Revoked after it was cached: trusted until the cache time runs out, as with keystonemiddleware.
    expect(await as(revoked, config)).toMatchObject({ projectId: 'proj-a' });
    expect(await refusal(revoked, keystone())).toMatchObject({ code: 'Unauthorized' });
  });

  it('an unscoped or domain-scoped token is a 403: valid, but for no project', async () => {
    const config = keystone();
    for (const scope of ['unscoped', 'domain'] as const) {
      expect(await refusal(ks.issue('root', { scope }), config)).toMatchObject({ code: 'Forbidden', status: 403, message: expect.stringMatching(/not scoped to a project/) });
    }
  });

  it('an application credential works as the service identity too', async () => {
    const config = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'keystone', VMCONSOLE_KEYSTONE_URL: `${ks.url}/v3/`, VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID: APP_CREDENTIAL.id, VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET: APP_CREDENTIAL.secret });
    expect(await as(ks.issue('alice'), config)).toMatchObject({ projectId: 'proj-a' });
  });
});

describe('keystone mode: caching', () => {
  it('a validated token is not validated again until the cache time (300 s) has passed', async () => {
    const { config, advance } = onClock();
    const alice = ks.issue('alice');
    await as(alice, config);
    await as(alice, config);
    expect(ks.validations(alice)).toHaveLength(1);
    advance(299_000);
    await as(alice, config);
    expect(ks.validations(alice)).toHaveLength(1);
    advance(2_000);
    expect(await as(alice, config)).toMatchObject({ projectId: 'proj-a' });
    expect(ks.validations(alice)).toHaveLength(2);
  });

  it('a token expiring sooner than the cache time is cached only until it expires', async () => {
    const { config, advance } = onClock();
    const shortLived = ks.issue('alice', { expiresInS: 30 });
    await as(shortLived, config);
    advance(31_000);
    // Asked again; Keystone's clock (real time) still finds it valid, ours is past its expires_at.
    expect(await refusal(shortLived, config)).toMatchObject({ code: 'Unauthorized', message: 'The token has expired.' });
    expect(ks.validations(shortLived)).toHaveLength(2);
  });

  it('a refused token is remembered briefly (30 s), then asked about again', async () => {
    const { config, advance } = onClock();
    const bogus = 'gAAAAAbogus-token-for-negative-cache';
    await refusal(bogus, config);
    await refusal(bogus, config);
    expect(ks.validations(bogus)).toHaveLength(1);
    advance(31_000);
    await refusal(bogus, config);
    expect(ks.validations(bogus)).toHaveLength(2);
  });

  it('concurrent requests with one token make one call', async () => {
    const config = keystone();
    const alice = ks.issue('alice');
    const principals = await Promise.all(Array.from({ length: 8 }, () => as(alice, config)));
    expect(new Set(principals.map((p) => p.projectId))).toEqual(new Set(['proj-a']));
    expect(ks.validations(alice)).toHaveLength(1);
  });

  it('VMCONSOLE_KEYSTONE_CACHE_S=0 asks Keystone every time', async () => {
    const config = keystone({ VMCONSOLE_KEYSTONE_CACHE_S: '0' });
    const alice = ks.issue('alice');
    await as(alice, config);
    await as(alice, config);
    expect(ks.validations(alice)).toHaveLength(2);
  });

  it('the service token is fetched again shortly before it expires', async () => {
    const { config, advance } = onClock();
    const before = ks.issues().length;
    await as(ks.issue('alice'), config);
    advance(3600_000 - 60_000); // inside the last 120 s of its hour
    await as(ks.issue('alice'), config);
    expect(ks.issues().length).toBe(before + 2);
  });
});

describe('keystone mode: when Keystone says no to vmconsole, or says nothing', () => {
  it('a revoked service token is replaced and the request still succeeds', async () => {
    const config = keystone();
    await as(ks.issue('alice'), config);
    const before = ks.issues().length;
    ks.revokeServiceTokens();
    const alice = ks.issue('alice');
    expect(await as(alice, config)).toMatchObject({ projectId: 'proj-a' });
    expect(ks.validations(alice).map((c) => c.status)).toEqual([401, 200]);
    expect(ks.issues().length).toBe(before + 1);
  });

  it('bad service credentials, or a service user without the service role, are a 503 naming the cause for the operator', async () => {
    const wrongPassword = await refusal(ks.issue('alice'), keystone({ VMCONSOLE_KEYSTONE_PASSWORD: 'wrong' }));
    expect(wrongPassword).toMatchObject({ code: 'TransportUnavailable', status: 503, detail: expect.stringMatching(/service credentials \(401\)/) });
    const noRole = await refusal(ks.issue('alice'), keystone({ VMCONSOLE_KEYSTONE_USERNAME: 'lurker', VMCONSOLE_KEYSTONE_PASSWORD: 'lurker-password', VMCONSOLE_KEYSTONE_PROJECT_NAME: 'proj-b' }));
    expect(noRole).toMatchObject({ code: 'TransportUnavailable', status: 503, detail: expect.stringMatching(/service role/) });
  });

  it('Keystone unreachable is a 503, not the caller\'s fault', async () => {
    const down = readAuthConfig({ ...serviceUser(), VMCONSOLE_KEYSTONE_URL: 'http://127.0.0.1:9' });
    expect(await refusal('gAAAAAany', down)).toMatchObject({ code: 'TransportUnavailable', status: 503, detail: expect.stringMatching(/unreachable/) });
  });

  it('Keystone answering 500 is a 503, and is not cached', async () => {
    const config = keystone();
    const alice = ks.issue('alice');
    await as(ks.issue('root'), config); // service token in hand
    ks.setMode('error');
    try {
      expect(await refusal(alice, config)).toMatchObject({ code: 'TransportUnavailable', detail: expect.stringMatching(/answered 500/) });
    } finally {
      ks.setMode('up');
    }
    expect(await as(alice, config)).toMatchObject({ projectId: 'proj-a' });
  });

  it('Keystone that accepts and never answers is a 503 once the timeout passes', async () => {
    const config = keystone({ VMCONSOLE_KEYSTONE_TIMEOUT_MS: '200' });
    await as(ks.issue('root'), config);
    ks.setMode('hang');
    try {
      expect(await refusal(ks.issue('alice'), config)).toMatchObject({ code: 'TransportUnavailable', detail: expect.stringMatching(/no answer within 200 ms/) });
    } finally {
      ks.setMode('up');
    }
  });
});

describe('keystone mode configuration', () => {
  const base = { VMCONSOLE_AUTH_MODE: 'keystone', VMCONSOLE_KEYSTONE_URL: 'https://keystone.example.com:5000', VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole', VMCONSOLE_KEYSTONE_PASSWORD: 'pw', VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service' };

  it.each([
    [{ VMCONSOLE_AUTH_MODE: 'keystone' }, /needs VMCONSOLE_KEYSTONE_URL/],
    [{ ...base, VMCONSOLE_KEYSTONE_URL: 'http://keystone.example.com:5000' }, /VMCONSOLE_KEYSTONE_URL must use https/],
    [{ ...base, VMCONSOLE_KEYSTONE_URL: 'keystone:5000' }, /must use https|not a URL/],
    [{ ...base, VMCONSOLE_KEYSTONE_PASSWORD: '' }, /needs service credentials/],
    [{ ...base, VMCONSOLE_KEYSTONE_PROJECT_NAME: '' }, /needs service credentials/],
    [{ ...base, VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID: 'id', VMCONSOLE_KEYSTONE_APP_CREDENTIAL_SECRET: 's' }, /not both/],
    [{ VMCONSOLE_AUTH_MODE: 'keystone', VMCONSOLE_KEYSTONE_URL: 'https://k.example.com', VMCONSOLE_KEYSTONE_APP_CREDENTIAL_ID: 'id' }, /needs both/],
    [{ ...base, VMCONSOLE_KEYSTONE_TIMEOUT_MS: '0' }, /VMCONSOLE_KEYSTONE_TIMEOUT_MS must be/],
    [{ ...base, VMCONSOLE_KEYSTONE_CACHE_S: '86400' }, /VMCONSOLE_KEYSTONE_CACHE_S must be/],
  ])('%j is refused at start-up', (env, message) => {
    expect(() => readAuthConfig(env)).toThrow(message);
  });

  it('finds the v3 root with or without /v3, with defaults keystonemiddleware would use', () => {
    for (const url of ['https://keystone.example.com:5000', 'https://keystone.example.com:5000/', 'https://keystone.example.com:5000/v3', 'https://keystone.example.com:5000/v3/']) {
      expect(readKeystoneOptions({ ...base, VMCONSOLE_KEYSTONE_URL: url })).toMatchObject({ url: 'https://keystone.example.com:5000/v3' });
    }
    expect(readKeystoneOptions({ ...base, VMCONSOLE_KEYSTONE_URL: 'https://cloud.example.com/identity' }).url).toBe('https://cloud.example.com/identity/v3');
    expect(readKeystoneOptions(base)).toMatchObject({
      timeoutMs: 2000,
      cacheMs: 300_000,
      negativeCacheMs: 30_000,
      credentials: { method: 'password', userDomainName: 'Default', projectDomainName: 'Default' },
    });
  });
});
