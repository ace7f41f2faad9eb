import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/list-servers.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { invoke } from '../helpers/http-event.ts';

let fx: EdgeFixture;
let handler: Parameters<typeof invoke>[0];

beforeAll(async () => {
  fx = await startEdgeFixture();
  handler = createHandler(edgeDependencies(fx.env));
});
afterAll(async () => {
  await fx?.stop();
});

const list = (query: Record<string, string> = {}, token = 'alice:proj-a', path = '/v2.1/servers') =>
  invoke(handler, { path, query, headers: { 'x-auth-token': token } });

const names = (res: { json: { servers: { name: string }[] } }) => res.json.servers.map((s) => s.name);

describe('GET /v2.1/servers', () => {
  it('lists the caller\'s project with id, name, links', async () => {
    const res = await list();
    expect(res.status).toBe(200);
    expect(names(res)).toEqual(['homeless-1', 'quiet-1', 'stale-1', 'web-1']);
    expect(res.json.servers.find((s: { name: string }) => s.name === 'web-1')).toEqual({
      id: fx.servers.web.id,
      name: 'web-1',
      links: [
        { rel: 'self', href: `https://api.example.test/v2.1/servers/${fx.servers.web.id}` },
        { rel: 'bookmark', href: `https://api.example.test/servers/${fx.servers.web.id}` },
      ],
    });
  });

  it('?name= resolves a name (what both CLIs do after a 404 on /servers/NAME)', async () => {
    expect(names(await list({ name: 'web-1' }))).toEqual(['web-1']);
    expect(names(await list({ name: 'db-1' }))).toEqual([]);
    // Nova matches name as a regular expression, searched anywhere in the name.
    expect(names(await list({ name: '^quiet' }))).toEqual(['quiet-1']);
    expect(names(await list({ name: 'e-1' }))).toEqual(['stale-1']);
  });

  it('admins see their own project unless all_tenants is set, like Nova', async () => {
    expect(names(await list({}, 'admin:proj-b'))).toEqual(['db-1']);
    expect(names(await list({ all_tenants: '1' }, 'admin:proj-b'))).toHaveLength(5);
    expect(names(await list({ all_tenants: '' }, 'admin:proj-b'))).toHaveLength(5);
    expect(names(await list({ all_tenants: 'false' }, 'admin:proj-b'))).toEqual(['db-1']);
  });

  it('403 for all_tenants from a non-admin, 400 for a bad all_tenants value', async () => {
    const forbidden = await list({ all_tenants: '1' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.json.forbidden.code).toBe(403);
    const bad = await list({ all_tenants: 'maybe' }, 'admin');
    expect(bad.status).toBe(400);
    expect(bad.json.badRequest.message).toMatch(/all_tenants/);
  });

  it('/servers/detail returns full documents', async () => {
    const res = await list({ name: 'web-1' }, 'alice:proj-a', '/v2.1/servers/detail');
    expect(res.json.servers).toHaveLength(1);
    expect(res.json.servers[0]).toMatchObject({ id: fx.servers.web.id, status: 'ACTIVE', tenant_id: 'proj-a', metadata: {}, flavor: { id: 'unknown', links: [] } });
  });

  it('401 without a token, with the microversion echo', async () => {
    const res = await invoke(handler, { path: '/v2.1/servers' });
    expect(res.status).toBe(401);
    expect(res.headers['openstack-api-version']).toBe('compute 2.1');
  });
});
