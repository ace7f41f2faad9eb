import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createListServers } from '../../functions/list-servers.ts';
import { createHandler as createShowServer } from '../../functions/show-server.ts';
import { readAuthConfig } from '../../lib/auth/config.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { invoke } from '../helpers/http-event.ts';
import { SERVICE_PASSWORD, startKeystoneStandIn, type KeystoneStandIn } from '../helpers/keystone-stand-in.ts';

/** Authentication refusals through the edge handlers, as an OpenStack client meets them: Nova faults. */
let fx: EdgeFixture;
let ks: KeystoneStandIn;
let deps: ReturnType<typeof edgeDependencies>;

const keystoneEnv = (url: string) => ({
  VMCONSOLE_AUTH_MODE: 'keystone',
  VMCONSOLE_KEYSTONE_URL: url,
  VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole',
  VMCONSOLE_KEYSTONE_PASSWORD: SERVICE_PASSWORD,
  VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service',
  VMCONSOLE_KEYSTONE_TIMEOUT_MS: '500',
});

beforeAll(async () => {
  [fx, ks] = await Promise.all([startEdgeFixture(), startKeystoneStandIn()]);
  deps = edgeDependencies(fx.env, { auth: readAuthConfig(keystoneEnv(ks.url)) });
});
afterAll(async () => {
  await Promise.all([fx?.stop(), ks?.stop()]);
});

const show = (id: string, token: string, handler = createShowServer(deps)) => invoke(handler, { path: `/v2.1/servers/${id}`, headers: { 'x-auth-token': token } });

describe('edge handlers in keystone mode', () => {
  it('a project token sees its project\'s servers and not another\'s; Keystone\'s admin role sees all', async () => {
    const alice = ks.issue('alice'); // member of proj-a
    expect((await show(fx.servers.web.id, alice)).status).toBe(200);
    expect((await show(fx.servers.db.id, alice)).status).toBe(404);
    const list = await invoke(createListServers(deps), { path: '/v2.1/servers', headers: { 'x-auth-token': alice } });
    expect(list.status).toBe(200);
    expect(list.json.servers.map((s: { name: string }) => s.name).sort()).toEqual(['homeless-1', 'quiet-1', 'stale-1', 'web-1']);
    const root = await show(fx.servers.db.id, ks.issue('root')); // admin on ops
    expect(root.status).toBe(200);
    expect(root.json.server['OS-EXT-SRV-ATTR:host']).toBe('h-live');
    // Three requests with alice's token, one validation.
    expect(ks.validations(alice)).toHaveLength(1);
  });

  it('an invalid token is Nova\'s 401 unauthorized fault', async () => {
    const res = await show(fx.servers.web.id, 'gAAAAAforged-or-revoked');
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ unauthorized: { code: 401, message: 'The token is not valid: it has expired, was revoked or is unknown to Keystone.' } });
    expect(res.headers['x-openstack-request-id']).toMatch(/^req-/);
  });

  it('a domain-scoped token is Nova\'s 403 forbidden fault', async () => {
    const res = await show(fx.servers.web.id, ks.issue('root', { scope: 'domain' }));
    expect(res.status).toBe(403);
    expect(res.json.forbidden.message).toMatch(/not scoped to a project/);
  });

  it('Keystone out of reach is a 503 serviceUnavailable with a request id, the cause only in the log', async () => {
    const downDeps = edgeDependencies(fx.env, { auth: readAuthConfig(keystoneEnv('http://127.0.0.1:9')) });
    const res = await show(fx.servers.web.id, ks.issue('alice'), createShowServer(downDeps));
    const requestId = res.headers['x-openstack-request-id'];
    expect(res.status).toBe(503);
    expect(res.json).toEqual({ serviceUnavailable: { code: 503, message: `The service is temporarily unavailable; try again shortly. The request ${requestId} failed; the operator log has the details.` } });
    expect(downDeps.logger.entries.find((e) => e.data.requestId === requestId)?.data.detail).toMatch(/keystone: unreachable/);
  });
});

describe('edge handlers in jwt mode: hygiene refusals are Nova\'s 401', () => {
  const SECRET = 'auth-faults-test-secret-0123456789abcdef';
  const sign = (claims: Record<string, unknown>, typ?: string) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...(typ ? { typ } : {}) }).sign(new TextEncoder().encode(SECRET));

  it.each([
    ['sub is a number', () => sign({ sub: 7, project_id: 'proj-a', exp: Math.floor(Date.now() / 1000) + 300 }), 'The token has no valid sub claim.'],
    ['exp 1e300', () => sign({ sub: 'u', project_id: 'proj-a', exp: 1e300 }), /expires more than 86400 s from now/],
    ['iat in the future', () => sign({ sub: 'u', project_id: 'proj-a', iat: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 4000 }), 'The token claim iat is in the future.'],
    ['typ dpop+jwt', () => sign({ sub: 'u', project_id: 'proj-a', exp: Math.floor(Date.now() / 1000) + 300 }, 'dpop+jwt'), /typ header/],
  ])('%s', async (_, token, message) => {
    const handler = createShowServer(edgeDependencies(fx.env, { auth: readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET }) }));
    const res = await show(fx.servers.web.id, await token(), handler);
    expect(res.status).toBe(401);
    expect(res.json.unauthorized.code).toBe(401);
    expect(res.json.unauthorized.message).toEqual(typeof message === 'string' ? message : expect.stringMatching(message));
  });
});
