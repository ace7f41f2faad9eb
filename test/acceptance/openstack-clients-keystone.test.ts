import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handler as discoverVersions } from '../../functions/discover-versions.ts';
import { createHandler as createListServers } from '../../functions/list-servers.ts';
import { createHandler as createServerAction } from '../../functions/server-action.ts';
import { createHandler as createShowServer } from '../../functions/show-server.ts';
import { readAuthConfig } from '../../lib/auth/config.ts';
import type { HttpHandler } from '../../lib/nova-api/wiring.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { httpEvent, lambdaContext } from '../helpers/http-event.ts';
import { SERVICE_PASSWORD, startKeystoneStandIn, type KeystoneStandIn } from '../helpers/keystone-stand-in.ts';
import { cleanEnv, describeWithOpenStackClients, OPENSTACK_BIN } from '../helpers/openstack-cli.ts';

/**
 * The README's Keystone clouds.yaml, used as written by the real openstack CLI: it authenticates
 * with a password against a Keystone (the stand-in, speaking the v3 wire format with discovery)
 * and reaches vmconsole through compute_endpoint_override; vmconsole, in keystone mode, validates
 * that token with Keystone. The edge handlers are served over HTTP by a small router here.
 */
describeWithOpenStackClients('openstack CLI with a Keystone cloud and vmconsole in keystone mode', () => {
  let fx: EdgeFixture;
  let ks: KeystoneStandIn;
  let edge: Server;
  let dir: string;

  function route(method: string, path: string, handlers: Record<string, HttpHandler>): HttpHandler | undefined {
    const p = path.replace(/\/+$/, '');
    if (method === 'GET' && (p === '' || p === '/v2.1')) return discoverVersions as unknown as HttpHandler;
    if (method === 'GET' && (p === '/v2.1/servers' || p === '/v2.1/servers/detail')) return handlers.list;
    if (method === 'GET' && /^\/v2\.1\/servers\/[^/]+$/.test(p)) return handlers.show;
    if (method === 'POST' && /^\/v2\.1\/servers\/[^/]+\/action$/.test(p)) return handlers.action;
    return undefined;
  }

  async function body(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  beforeAll(async () => {
    [fx, ks] = await Promise.all([startEdgeFixture({ replyTimeoutMs: 5_000 }), startKeystoneStandIn()]);
    const deps = edgeDependencies(fx.env, {
      auth: readAuthConfig({
        VMCONSOLE_AUTH_MODE: 'keystone',
        VMCONSOLE_KEYSTONE_URL: ks.url,
        VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole',
        VMCONSOLE_KEYSTONE_PASSWORD: SERVICE_PASSWORD,
        VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service',
      }),
    });
    const handlers = { list: createListServers(deps), show: createShowServer(deps), action: createServerAction(deps) };
    edge = createServer((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://edge');
        const handler = route(req.method ?? 'GET', url.pathname, handlers);
        if (!handler) return void res.writeHead(404).end();
        const text = await body(req);
        const headers: Record<string, string> = { 'x-forwarded-proto': 'http' };
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        const event = httpEvent({
          method: req.method ?? 'GET',
          path: url.pathname,
          headers,
          ...(text ? { body: text } : {}),
          ...(url.search ? { query: Object.fromEntries(url.searchParams) } : {}),
        });
        const out = await handler(event, lambdaContext());
        res.writeHead(out.statusCode ?? 200, out.headers as Record<string, string>).end(out.body ?? '');
      })().catch((err: unknown) => res.writeHead(500).end(String(err)));
    });
    await new Promise<void>((resolve) => edge.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(edge.address() as AddressInfo).port}/v2.1`;
    dir = await mkdtemp(join(tmpdir(), 'vmconsole-clouds-'));
    // As in the README ("Authentication", a Keystone cloud), with the stand-in's addresses.
    await writeFile(join(dir, 'clouds.yaml'), [
      'clouds:',
      '  mycloud:',
      '    auth_type: password',
      '    auth:',
      `      auth_url: ${ks.url}/v3`,
      '      username: alice',
      '      password: alice-password',
      '      project_name: proj-a',
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '    region_name: RegionOne',
      '    identity_api_version: 3',
      `    compute_endpoint_override: ${endpoint}`,
      // The README's token form (a JWT in jwt mode; here a Keystone token, `openstack token issue`).
      '  vmconsole:',
      '    auth_type: admin_token',
      '    auth:',
      `      token: ${ks.issue('root')}`,
      `      endpoint: ${endpoint}`,
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (edge ? edge.close(() => resolve()) : resolve()));
    await Promise.all([fx?.stop(), ks?.stop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
  });

  const cli = (args: string[], cloud = 'mycloud') =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(OPENSTACK_BIN, ['--os-cloud', cloud, ...args], { env: cleanEnv({ OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml') }), timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
      });
    });

  it('openstack console log show, by name, with a Keystone token validated by vmconsole', async () => {
    const res = await cli(['console', 'log', 'show', '--lines', '5', 'web-1']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(res.stdout).toContain('console of instance-web-1 length=5');
    // The CLI got alice's token from Keystone (password, project scope); vmconsole validated it
    // there with its own service token, once for the CLI's several requests.
    const userToken = ks.issues().find((c) => !c.path.includes('nocatalog'));
    expect(userToken?.status).toBe(201);
    const validated = ks.validations();
    expect(validated).toHaveLength(1);
    expect(validated[0]).toMatchObject({ status: 200 });
    expect(validated[0]!.authToken).not.toBe(validated[0]!.subjectToken);
  });

  it('another project\'s server stays invisible (as in Nova: not found)', async () => {
    const res = await cli(['console', 'log', 'show', 'db-1']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/No Server found for db-1/);
  });

  it('the admin_token form: a token and the endpoint; the admin role in the token\'s project sees every project', async () => {
    // By UUID: an admin's name lookups, as in Nova, cover its own project only.
    const res = await cli(['console', 'log', 'show', '--lines', '3', fx.servers.db.id], 'vmconsole');
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(res.stdout).toContain('console of instance-db-1 length=3');
  });
});
