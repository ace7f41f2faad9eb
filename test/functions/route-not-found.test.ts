import { describe, expect, it } from 'vitest';
import { handler } from '../../functions/route-not-found.ts';
import { invoke } from '../helpers/http-event.ts';

describe('catch-all route', () => {
  it.each(['/v2.1/flavors/1', '/v2.1/servers/x/remote-consoles', '/nope', '/v2.1/os-keypairs'])('404 itemNotFound for %s', async (path) => {
    const res = await invoke(handler, { path });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ itemNotFound: { code: 404, message: 'The resource could not be found.' } });
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['openstack-api-version']).toBe('compute 2.1');
    expect(res.headers['x-openstack-nova-api-version']).toBe('2.1');
    expect(res.headers.vary).toContain('OpenStack-API-Version');
  });

  it.each([
    ['DELETE', '/v2.1/servers/0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11', 'GET'],
    ['GET', '/v2.1/servers/0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11/action', 'POST'],
    ['POST', '/v2.1/servers', 'GET'],
    ['PUT', '/dev/v2.1/', 'GET'],
  ])('405 badMethod with Allow for %s %s', async (method, path, allow) => {
    const res = await invoke(handler, { method, path, stage: path.startsWith('/dev') ? 'dev' : '$default' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.json.badMethod).toEqual({ code: 405, message: `The method ${method} is not allowed for this resource.` });
  });

  it('echoes the requested microversion on a 404', async () => {
    const res = await invoke(handler, { path: '/nope', headers: { 'openstack-api-version': 'compute 2.2' } });
    expect(res.headers['openstack-api-version']).toBe('compute 2.2');
  });
});
