import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/discover-versions.ts';
import { formatMicroversion, MAX_MICROVERSION } from '../../lib/nova-api/microversion.ts';
import { invoke } from '../helpers/http-event.ts';

const MAX = formatMicroversion(MAX_MICROVERSION);

describe('GET / and /v2.1/ (version discovery)', () => {
  it('GET /v2.1/ returns the version document openstacksdk and novaclient read', async () => {
    const res = await invoke(handler, { path: '/v2.1/' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const v = res.json.version;
    expect(v).toMatchObject({ id: 'v2.1', status: 'CURRENT', version: MAX, min_version: '2.1' });
    expect(v.updated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(v.links).toContainEqual({ rel: 'self', href: 'https://api.example.test/v2.1/' });
    expect(v['media-types'][0]).toEqual({ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' });
  });

  it('GET /v2.1 (no slash) returns the same document', async () => {
    const res = await invoke(handler, { path: '/v2.1' });
    expect(res.status).toBe(200);
    expect(res.json.version.links[0].href).toBe('https://api.example.test/v2.1/');
  });

  it('GET / lists v2.1', async () => {
    const res = await invoke(handler, { path: '/' });
    expect(res.status).toBe(200);
    expect(res.json.versions).toHaveLength(1);
    expect(res.json.versions[0]).toMatchObject({ id: 'v2.1', status: 'CURRENT', version: MAX, min_version: '2.1' });
    expect(res.json.versions[0].links).toEqual([{ rel: 'self', href: 'https://api.example.test/v2.1/' }]);
  });

  it('builds links behind a named API Gateway stage', async () => {
    const res = await invoke(handler, { path: '/dev/v2.1/', stage: 'dev' });
    expect(res.json.version.links[0].href).toBe('https://api.example.test/dev/v2.1/');
    const root = await invoke(handler, { path: '/dev', stage: 'dev' });
    expect(root.json.versions[0].links[0].href).toBe('https://api.example.test/dev/v2.1/');
  });

  it('builds http links on serverless-offline (no X-Forwarded-Proto)', async () => {
    const res = await invoke(handler, { path: '/v2.1/', headers: { host: '127.0.0.1:4000', 'x-forwarded-proto': '' } });
    expect(res.json.version.links[0].href).toBe('http://127.0.0.1:4000/v2.1/');
  });

  it('never echoes a hostile Host header into links', async () => {
    const res = await invoke(handler, { path: '/v2.1/', headers: { host: 'evil.test/"><script>' } });
    expect(res.json.version.links[0].href).toBe('https://api.example.test/v2.1/');
  });

  it('needs no token and echoes the microversion', async () => {
    const res = await invoke(handler, { path: '/v2.1/', headers: { 'openstack-api-version': 'compute latest' } });
    expect(res.status).toBe(200);
    expect(res.headers['openstack-api-version']).toBe(`compute ${MAX}`);
    expect(res.headers['x-openstack-nova-api-version']).toBe(MAX);
    expect(res.headers.vary).toBe('OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    expect(res.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(res.headers['x-compute-request-id']).toBe(res.headers['x-openstack-request-id']);
  });

  it('answers 406 computeFault for an unsupported microversion, with the echo', async () => {
    const res = await invoke(handler, { path: '/v2.1/', headers: { 'x-openstack-nova-api-version': '2.99' } });
    expect(res.status).toBe(406);
    expect(res.json).toEqual({ computeFault: { code: 406, message: `Version 2.99 is not supported by the API. Minimum is 2.1 and maximum is ${MAX}.` } });
    expect(res.headers['openstack-api-version']).toBe('compute 2.1');
    expect(res.headers['content-type']).toBe('application/json');
  });

  it('answers 400 badRequest for a malformed microversion', async () => {
    const res = await invoke(handler, { path: '/v2.1/', headers: { 'openstack-api-version': 'compute two' } });
    expect(res.status).toBe(400);
    expect(res.json.badRequest.message).toMatch(/invalid format/);
  });
});
