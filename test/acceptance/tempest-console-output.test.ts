import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '../../lib/local/local-stack.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { consoleWindow, novaConsoleOutput } from '../helpers/nova-console-formula.ts';

// tempest's console output checks (compute servers test_server_actions and its negative twin,
// with the response schema and microversion header checks of its compute client), replayed over
// HTTP against the whole local system.
describe('tempest console output assertions', () => {
  let running: TestStack | undefined;
  let stack: LocalStack;

  const idOf = (name: string) => {
    const found = stack.demoServers.find((s) => s.name === name);
    if (!found) throw new Error(`no demo server ${name}`);
    return found.id;
  };

  async function getConsoleOutput(serverId: string, body: object, headers: Record<string, string> = {}) {
    const res = await fetch(`${stack.url}/v2.1/servers/${serverId}/action`, {
      method: 'POST',
      headers: { 'X-Auth-Token': 'demo:demo', 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
      body: JSON.stringify({ 'os-getConsoleOutput': body }),
    });
    return { res, json: (await res.json()) as Record<string, unknown> };
  }

  function expectMicroversionEcho(res: Response, version: string) {
    expect(res.headers.get('openstack-api-version')).toBe(`compute ${version}`);
    expect(res.headers.get('x-openstack-nova-api-version')).toBe(version);
  }

  beforeAll(async () => {
    running = await startTestStack('tempest');
    stack = running.stack;
  });
  afterAll(() => running?.stop());

  it('test_get_console_output: length 3 gives a non-empty output of exactly 3 items split on newlines', async () => {
    const { res, json } = await getConsoleOutput(idOf('web-1'), { length: 3 });
    expect(res.status).toBe(200);
    expect(Object.keys(json)).toEqual(['output']);
    const output = json.output as string;
    expect(output).toBeTruthy();
    expect(output.split('\n')).toHaveLength(3);
    expect(output).toBe(novaConsoleOutput(consoleWindow(join(stack.instancesDir, idOf('web-1'))), 3));
  });

  it('test_get_console_output_with_unlimited_size: no length gives more than 3 lines', async () => {
    const { res, json } = await getConsoleOutput(idOf('web-1'), {});
    expect(res.status).toBe(200);
    expect(Object.keys(json)).toEqual(['output']);
    expect((json.output as string).split('\n').length).toBeGreaterThan(3);
    expect(json.output).toBe(novaConsoleOutput(consoleWindow(join(stack.instancesDir, idOf('web-1'))), null));
  });

  it('test_get_console_output_server_id_in_shutoff_status: a stopped server still gives its log', async () => {
    const { res, json } = await getConsoleOutput(idOf('batch-7'), { length: 3 });
    expect(res.status).toBe(200);
    expect(Object.keys(json)).toEqual(['output']);
    expect((json.output as string).split('\n')).toHaveLength(3);
  });

  it('test_get_console_output_of_non_existent_server: a random UUID is 404 itemNotFound', async () => {
    const id = randomUUID();
    const { res, json } = await getConsoleOutput(id, { length: 3 });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json).toEqual({ itemNotFound: { code: 404, message: `Instance ${id} could not be found.` } });
    expectMicroversionEcho(res, '2.1');
  });

  it('echoes microversion 2.1 when none is sent, on success and on errors', async () => {
    const ok = await getConsoleOutput(idOf('web-1'), { length: 1 });
    expect(ok.res.status).toBe(200);
    expectMicroversionEcho(ok.res, '2.1');
    const bad = await getConsoleOutput(idOf('web-1'), { length: 'x' });
    expect(bad.res.status).toBe(400);
    expect(Object.keys(bad.json)).toEqual(['badRequest']);
    expectMicroversionEcho(bad.res, '2.1');
  });

  it('echoes a requested valid microversion, in either header, and refuses one above the maximum', async () => {
    const modern = await getConsoleOutput(idOf('web-1'), { length: 1 }, { 'OpenStack-API-Version': 'compute 2.5' });
    expect(modern.res.status).toBe(200);
    expectMicroversionEcho(modern.res, '2.5');

    const legacy = await getConsoleOutput(idOf('web-1'), { length: 1 }, { 'X-OpenStack-Nova-API-Version': '2.1' });
    expect(legacy.res.status).toBe(200);
    expectMicroversionEcho(legacy.res, '2.1');

    const tooNew = await getConsoleOutput(idOf('web-1'), { length: 1 }, { 'OpenStack-API-Version': 'compute 2.93' });
    expect(tooNew.res.status).toBe(406);
    expect(Object.keys(tooNew.json)).toEqual(['computeFault']);
  });

  describe('version discovery, as the clients need it (no token)', () => {
    function expectV21(version: Record<string, unknown>) {
      expect(version).toMatchObject({ id: 'v2.1', status: 'CURRENT', min_version: '2.1' });
      expect(version.version).toMatch(/^2\.\d+$/);
      const links = version.links as Array<{ rel: string; href: string }>;
      expect(links.find((l) => l.rel === 'self')?.href).toBe(`${stack.url}/v2.1/`);
    }

    it('GET / lists v2.1', async () => {
      const res = await fetch(`${stack.url}/`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { versions: Array<Record<string, unknown>> };
      expect(body.versions).toHaveLength(1);
      expectV21(body.versions[0]!);
    });

    it('GET /v2.1/ and GET /v2.1 describe v2.1 (200, or a redirect to /v2.1/)', async () => {
      for (const path of ['/v2.1/', '/v2.1']) {
        const res = await fetch(`${stack.url}${path}`);
        expect(res.status, path).toBe(200);
        const body = (await res.json()) as { version: Record<string, unknown> };
        expectV21(body.version);
        expectMicroversionEcho(res, '2.1');
      }
    });
  });
});
