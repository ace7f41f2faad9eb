import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createHandler, handler } from '../../functions/route-not-found.ts';
import { invoke } from '../helpers/http-event.ts';
import { loadOpenApi } from '../helpers/openapi.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

describe('catch-all route', () => {
  it.each(['/v2.1/flavors/1', '/v2.1/servers/x/os-interface', '/nope', '/v2.1/os-keypairs'])('404 itemNotFound for %s', async (path) => {
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
    ['GET', '/v2.1/servers/0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11/remote-consoles', 'POST'],
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

  it.each(['/v2.1/nope', '/vmconsole/v10/x', '/vmconsole/v1x/servers', '/vmconsole', '/dev/vmconsole/v2/x'])('%s is not vmconsole API: still Nova\'s itemNotFound', async (path) => {
    const res = await invoke(createHandler({ logger: recordingLogger() }), { path, stage: path.startsWith('/dev') ? 'dev' : '$default' });
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ itemNotFound: { code: 404, message: 'The resource could not be found.' } });
    expect(res.headers['x-openstack-nova-api-version']).toBe('2.1');
    expect(res.headers['x-request-id']).toBeUndefined();
  });
});

const ID = '0b7b4a5e-36f4-4a4c-9d9b-6e0a3c7f2b11';

describe('catch-all under /vmconsole/v1: the own API\'s error format, not Nova faults', () => {
  const logger = recordingLogger();
  const catchAll = createHandler({ logger });
  const call = (options: Parameters<typeof invoke>[1]) => invoke(catchAll, options);
  const openApi = loadOpenApi();

  /** The own API's error as docs/openapi.yaml's Error schema says, the request id in body and header. */
  async function expectApiError(res: Awaited<ReturnType<typeof call>>, status: number, code: string) {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json.error.code).toBe(code);
    expect(res.json.error.requestId).toBe(res.headers['x-request-id']);
    expect(res.json.itemNotFound ?? res.json.badMethod).toBeUndefined();
    expect(res.headers['x-openstack-nova-api-version']).toBeUndefined();
    // Every operation's error statuses share components/responses/Error; check against one of them.
    expect((await openApi).check('GET', '/vmconsole/v1/servers/{server_id}/diagnoses', 404, res.json)).toEqual([]);
  }

  it.each(['/vmconsole/v1/nope', '/vmconsole/v1', '/vmconsole/v1/', `/vmconsole/v1/servers/${ID}`, `/vmconsole/v1/servers/${ID}/diagnoses/`, `/vmconsole/v1/servers/${ID}/diagnoses/x`])(
    '404 RouteNotFound for %s',
    async (path) => {
      const res = await call({ path });
      await expectApiError(res, 404, 'RouteNotFound');
      expect(res.json.error.message).toBe('The resource could not be found.');
      expect(res.headers.allow).toBeUndefined();
    },
  );

  it.each([
    ['DELETE', `/vmconsole/v1/servers/${ID}/diagnoses`, 'GET'],
    ['POST', `/vmconsole/v1/servers/${ID}/diagnoses`, 'GET'],
    ['GET', `/vmconsole/v1/servers/${ID}/diagnose`, 'POST'],
  ])('405 MethodNotAllowed with Allow for %s %s', async (method, path, allow) => {
    const res = await call({ method, path });
    await expectApiError(res, 405, 'MethodNotAllowed');
    expect(res.json.error.message).toBe(`The method ${method} is not allowed for this resource.`);
    expect(res.headers.allow).toBe(allow);
  });

  it('a named stage is stripped before the API is chosen', async () => {
    await expectApiError(await call({ path: '/dev/vmconsole/v1/nope', stage: 'dev' }), 404, 'RouteNotFound');
  });

  it('knows every /vmconsole/v1 route serverless.yml declares: any other method is a 405 with Allow', async () => {
    const declared = [...(await readFile(new URL('../../serverless.yml', import.meta.url), 'utf8')).matchAll(/httpApi: '(\w+) (\/vmconsole\/v1\/[^']+)'/g)]
      .map(([, method, path]) => [method!, path!.replace('{server_id}', ID)] as const);
    expect(declared.length).toBeGreaterThan(0);
    for (const [method, path] of declared) {
      const other = method === 'GET' ? 'PUT' : 'GET';
      const res = await call({ method: other, path });
      expect([path, res.status, res.headers.allow]).toEqual([path, 405, method]);
    }
  });
});
