import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/show-server.ts';
import { readAuthConfig } from '../../lib/auth/config.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { invoke } from '../helpers/http-event.ts';

const SECRET = 'show-server-test-secret-0123456789abcdef';
let fx: EdgeFixture;
let noauth: Parameters<typeof invoke>[0];
let jwt: Parameters<typeof invoke>[0];

beforeAll(async () => {
  fx = await startEdgeFixture();
  noauth = createHandler(edgeDependencies(fx.env));
  jwt = createHandler(edgeDependencies(fx.env, { auth: readAuthConfig({ VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET }) }));
});
afterAll(async () => {
  await fx?.stop();
});

const show = (id: string, token = 'alice:proj-a', handler = noauth) =>
  invoke(handler, { path: `/v2.1/servers/${id}`, headers: { 'x-auth-token': token } });

const token = (project: string, roles: string[] = []) =>
  new SignJWT({ sub: 'jwt-user', project_id: project, roles }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));

describe('GET /v2.1/servers/{id}', () => {
  it('returns the minimal document both CLIs accept', async () => {
    const { web } = fx.servers;
    const res = await show(web.id);
    expect(res.status).toBe(200);
    expect(res.headers['openstack-api-version']).toBe('compute 2.1');
    expect(res.json).toEqual({
      server: {
        id: web.id,
        name: 'web-1',
        status: 'ACTIVE',
        tenant_id: 'proj-a',
        user_id: 'proj-a-user',
        metadata: {},
        flavor: { id: 'unknown', links: [] },
        image: '',
        updated: '2026-01-02T03:04:05Z',
        links: [
          { rel: 'self', href: `https://api.example.test/v2.1/servers/${web.id}` },
          { rel: 'bookmark', href: `https://api.example.test/servers/${web.id}` },
        ],
        'OS-EXT-STS:vm_state': 'active',
        'OS-EXT-STS:power_state': 1,
        'OS-EXT-STS:task_state': null,
      },
    });
  });

  it('shows the host attributes to admins only', async () => {
    const res = await show(fx.servers.db.id, 'admin');
    expect(res.status).toBe(200);
    expect(res.json.server).toMatchObject({
      'OS-EXT-SRV-ATTR:host': 'h-live',
      'OS-EXT-SRV-ATTR:hypervisor_hostname': 'h-live',
      'OS-EXT-SRV-ATTR:instance_name': 'instance-db-1',
    });
  });

  it('from 2.3 admins also get the extended attributes, null where the directory does not know them', async () => {
    const v23 = await invoke(noauth, { path: `/v2.1/servers/${fx.servers.db.id}`, headers: { 'x-auth-token': 'admin', 'openstack-api-version': 'compute 2.3' } });
    expect(v23.status).toBe(200);
    const attributes = ['reservation_id', 'launch_index', 'hostname', 'kernel_id', 'ramdisk_id', 'root_device_name', 'user_data'];
    for (const name of attributes) expect(v23.json.server[`OS-EXT-SRV-ATTR:${name}`], name).toBeNull();
    const v22 = await invoke(noauth, { path: `/v2.1/servers/${fx.servers.db.id}`, headers: { 'x-auth-token': 'admin', 'openstack-api-version': 'compute 2.2' } });
    expect(Object.keys(v22.json.server).filter((k) => k.startsWith('OS-EXT-SRV-ATTR:')).sort()).toEqual(['OS-EXT-SRV-ATTR:host', 'OS-EXT-SRV-ATTR:hypervisor_hostname', 'OS-EXT-SRV-ATTR:instance_name']);
    const tenant = await invoke(noauth, { path: `/v2.1/servers/${fx.servers.web.id}`, headers: { 'x-auth-token': 'alice:proj-a', 'openstack-api-version': 'compute 2.8' } });
    expect(Object.keys(tenant.json.server).filter((k) => k.startsWith('OS-EXT-SRV-ATTR:'))).toEqual([]);
  });

  it.each([randomUUID(), 'web-1', '..%2F..%2Fetc'])('404 itemNotFound for %s', async (id) => {
    const res = await show(id);
    expect(res.status).toBe(404);
    expect(res.json.itemNotFound.message).toMatch(/^Instance .* could not be found\.$/);
    expect(res.headers['x-openstack-nova-api-version']).toBe('2.1');
  });

  it('404 for another project (noauth)', async () => {
    const res = await show(fx.servers.db.id);
    expect(res.status).toBe(404);
    expect(res.json.itemNotFound.message).toBe(`Instance ${fx.servers.db.id} could not be found.`);
  });

  it('jwt: own project 200, another project\'s token 404, admin role 200, forged 401', async () => {
    expect((await show(fx.servers.web.id, await token('proj-a'), jwt)).status).toBe(200);
    expect((await show(fx.servers.web.id, await token('proj-b'), jwt)).status).toBe(404);
    expect((await show(fx.servers.web.id, await token('proj-b', ['admin']), jwt)).status).toBe(200);
    const forged = await new SignJWT({ sub: 'x', project_id: 'proj-a' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(40)));
    const res = await show(fx.servers.web.id, forged, jwt);
    expect(res.status).toBe(401);
    expect(res.json.unauthorized.message).toBe('The token signature is not valid.');
    expect((await show(fx.servers.web.id, 'alice:proj-a', jwt)).status).toBe(401);
  });

  it('401 without a token', async () => {
    const res = await invoke(noauth, { path: `/v2.1/servers/${fx.servers.web.id}` });
    expect(res.status).toBe(401);
    expect(res.json.unauthorized.code).toBe(401);
  });
});

describe('GET /v2.1/servers/{id} when DynamoDB is out of reach', () => {
  it('503 with a generic text and the request id: no SDK text (endpoint, ECONNREFUSED) for tenants, the detail for admins', async () => {
    const deps = edgeDependencies({ ...fx.env, VMCONSOLE_DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' });
    const handler = createHandler(deps);
    const res = await show(fx.servers.web.id, 'alice:proj-a', handler);
    const requestId = res.headers['x-openstack-request-id'];
    expect(res.status).toBe(503);
    expect(res.json).toEqual({ serviceUnavailable: { code: 503, message: `The service is temporarily unavailable; try again shortly. The request ${requestId} failed; the operator log has the details.` } });
    expect(res.raw.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|DynamoDB/);
    expect(deps.logger.entries.find((e) => e.data.requestId === requestId)?.data.detail).toMatch(/ECONNREFUSED/);
    const admin = await show(fx.servers.web.id, 'admin', handler);
    expect(admin.status).toBe(503);
    expect(admin.json.serviceUnavailable.message).toMatch(/\(operator detail: The server directory is unavailable\. Try again shortly\.; DynamoDB: .*ECONNREFUSED/);
  }, 30_000);
});
