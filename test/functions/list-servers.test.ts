import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/list-servers.ts';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { httpEvent, invoke, lambdaContext } from '../helpers/http-event.ts';

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

describe('GET /v2.1/servers: filters and pages (never ignored silently)', () => {
  const extra = (name: string, state: ServerRecord['state'], host = 'h-c'): ServerRecord => ({
    id: randomUUID(), name, projectId: 'proj-c', userId: 'carol', host, hypervisor: 'files', state, instanceName: `instance-${name}`, updatedAt: 0,
  });
  const c = [extra('c-on', 'active'), extra('c-off', 'stopped'), extra('c-paused', 'paused'), extra('c-broken', 'crashed', 'h-live')];
  const carol = 'carol:proj-c';
  beforeAll(async () => {
    await fx.directory.putServers(c);
  });

  it('status filters by Nova status, case-insensitively; several values are alternatives', async () => {
    expect(names(await list({ status: 'SHUTOFF' }, carol))).toEqual(['c-off']);
    expect(names(await list({ status: 'shutoff' }, carol))).toEqual(['c-off']);
    expect(names(await list({ status: 'ERROR' }, carol))).toEqual(['c-broken']);
    // A repeated parameter (API Gateway's queryStringParameters would join them with a comma).
    const event = { ...httpEvent({ path: '/v2.1/servers', headers: { 'x-auth-token': carol } }), rawQueryString: 'status=ACTIVE&status=PAUSED' };
    const both = await handler(event, lambdaContext());
    expect(names({ json: JSON.parse(String(both.body)) })).toEqual(['c-on', 'c-paused']);
  });

  it('an unknown or unused status lists nothing, as Nova 2.1 answers (400 only from 2.38)', async () => {
    expect(names(await list({ status: 'BOGUS' }, carol))).toEqual([]);
    expect(names(await list({ status: 'SHELVED' }, carol))).toEqual([]);
  });

  it('host filters for admins, within their project unless all_tenants', async () => {
    expect(names(await list({ host: 'h-live', all_tenants: '1' }, 'admin:ops'))).toEqual(['c-broken', 'db-1', 'web-1']);
    expect(names(await list({ host: 'h-live' }, 'admin:proj-a'))).toEqual(['web-1']);
    expect(names(await list({ host: 'h-nobody', all_tenants: '1' }, 'admin:ops'))).toEqual([]);
  });

  it('host from a non-admin is dropped, as Nova\'s remove_invalid_options does (host names are operators\' business)', async () => {
    expect(names(await list({ host: 'h-live' }))).toEqual(names(await list()));
    expect(names(await list({ host: 'h-live' }))).toHaveLength(4);
  });

  it('limit and marker page through the list with Nova\'s servers_links', async () => {
    const all = (await list({}, carol)).json.servers as { id: string; name: string }[];
    expect(all.map((s) => s.name)).toEqual(['c-broken', 'c-off', 'c-on', 'c-paused']);
    const first = await list({ limit: '3' }, carol);
    expect(names(first)).toEqual(['c-broken', 'c-off', 'c-on']);
    expect(first.json.servers_links).toEqual([{ rel: 'next', href: `https://api.example.test/v2.1/servers?limit=3&marker=${all[2]!.id}` }]);
    const href = new URL(first.json.servers_links[0].href);
    const second = await list(Object.fromEntries(href.searchParams), carol);
    expect(names(second)).toEqual(['c-paused']);
    expect(second.json.servers_links).toBeUndefined();
    // A page exactly as long as the limit gets a link (Nova cannot tell it is the last one).
    const exact = await list({ limit: '2', marker: all[1]!.id }, carol);
    expect(names(exact)).toEqual(['c-on', 'c-paused']);
    expect(exact.json.servers_links[0].href).toContain(`marker=${all[3]!.id}`);
    expect(names(await list({ limit: '2', marker: all[3]!.id }, carol))).toEqual([]);
  });

  it('the next link keeps the other parameters and the collection (/servers/detail)', async () => {
    const res = await list({ status: 'ACTIVE', limit: '1' }, carol, '/v2.1/servers/detail');
    expect(res.json.servers).toHaveLength(1);
    expect(res.json.servers_links[0].href).toBe(`https://api.example.test/v2.1/servers/detail?status=ACTIVE&limit=1&marker=${res.json.servers[0].id}`);
  });

  it('limit=0 lists nothing and has no next link; limits above 1000 are capped', async () => {
    const none = await list({ limit: '0' }, carol);
    expect(none.json).toEqual({ servers: [] });
    expect(names(await list({ limit: '5000' }, carol))).toHaveLength(4);
  });

  it.each([
    ['-1', "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'"],
    ['abc', "Invalid input for query parameters limit. Value: abc. 'abc' does not match '^[0-9]*$'"],
    ['', 'limit param must be an integer'],
  ])('400 for limit=%j', async (limit, message) => {
    const res = await list({ limit }, carol);
    expect(res.status).toBe(400);
    expect(res.json.badRequest.message).toBe(message);
  });

  it('400 "marker [x] not found" for an unknown marker, another project\'s server or a non-id', async () => {
    for (const marker of [randomUUID(), fx.servers.db.id, 'web-1']) {
      const res = await list({ marker });
      expect(res.status, marker).toBe(400);
      expect(res.json.badRequest.message).toBe(`marker [${marker}] not found`);
    }
  });

  it('400 for a filter Nova applies but vmconsole does not; never a silently unfiltered list', async () => {
    const queries: Record<string, string>[] = [{ image: 'x' }, { flavor: '1' }, { ip: '10.0.0.1' }, { 'changes-since': '2026-01-01' }, { sort_key: 'name' }];
    for (const query of queries) {
      const res = await list(query);
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.json.badRequest.message).toBe(`Filtering servers by ${Object.keys(query)[0]} is not supported by this API.`);
    }
    const admin = await list({ user_id: 'carol' }, 'admin');
    expect(admin.status).toBe(400);
    expect(admin.json.badRequest.message).toBe('Filtering servers by user_id is not supported by this API.');
  });

  it('ip6: dropped for non-admins before 2.5 (admin-only in Nova), refused like ip from 2.5 (Nova applies it for everyone)', async () => {
    const at = (minor: number) => invoke(handler, { path: '/v2.1/servers', query: { ip6: '::1' }, headers: { 'x-auth-token': 'alice:proj-a', 'openstack-api-version': `compute 2.${minor}` } });
    expect((await at(4)).status).toBe(200);
    const refused = await at(5);
    expect(refused.status).toBe(400);
    expect(refused.json.badRequest.message).toBe('Filtering servers by ip6 is not supported by this API.');
  });

  it('like Nova: admin-only filters are dropped for others, unknown parameters are ignored, deleted=false is a no-op', async () => {
    const everything = names(await list());
    expect(names(await list({ user_id: 'nobody', node: 'x' }))).toEqual(everything);
    expect(names(await list({ frobnicate: '1' }))).toEqual(everything);
    expect((await list({ frobnicate: '1' }, 'admin')).status).toBe(200);
    expect((await list({ deleted: 'False' }, 'admin')).status).toBe(200);
    expect((await list({ deleted: 'true' }, 'admin')).status).toBe(400);
  });
});
