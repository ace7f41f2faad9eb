/**
 * `vmconsole url`: the request it sends to Nova's remote-consoles API, checked against a Nova
 * STAND-IN. vmconsole's own POST /v2.1/servers/{id}/remote-consoles is built on another branch;
 * until it lands this HTTP server answers as Nova's API reference documents (200
 * `{"remote_console": {"protocol", "type", "url"}}`, faults `{"badRequest"|"itemNotFound"|"computeFault":
 * {"code", "message"}}`) and records what the CLI sent. When the endpoint lands, a test against the
 * local stack replaces this one's happy path.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-process.ts';

const SERVER = { id: '9a0e8b52-4c3d-4b1a-8f7e-2d6c5b4a3f21', name: 'web-1' };
const TOKEN = 'b60bcfc3-5fd4-4d21-986c-e83379107819';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What the stand-in answers to the remote-consoles POST. */
type Answer = (body: any, microversion: string | undefined) => { status: number; body: unknown } | 'hang';

/** Nova's documented answer: the URL for the console type asked, with a token. */
const documented: Answer = (body) => {
  const { protocol, type } = body.remote_console;
  const url = type === 'novnc'
    ? `http://nova.example:6080/vnc_lite.html?path=%3Ftoken%3D${TOKEN}`
    : type === 'spice-html5' ? `http://nova.example:6082/spice_auto.html?token=${TOKEN}` : `ws://nova.example:6083/?token=${TOKEN}`;
  return { status: 200, body: { remote_console: { protocol, type, url } } };
};

describe('vmconsole url against a Nova stand-in (remote-consoles lands on another branch)', () => {
  let nova: Server;
  let base: string;
  const seen: Seen[] = [];
  let answer: Answer = documented;

  beforeAll(async () => {
    nova = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const send = (status: number, payload: unknown) => res.writeHead(status, { 'Content-Type': 'application/json', 'x-openstack-request-id': 'req-00000000-0000-4000-8000-000000000001' }).end(JSON.stringify(payload));
        const url = new URL(req.url ?? '/', 'http://nova');
        if (req.method === 'GET' && url.pathname === `/v2.1/servers/${SERVER.id}`) return send(200, { server: { ...SERVER, status: 'ACTIVE', metadata: {}, flavor: {} } });
        if (req.method === 'GET' && url.pathname === '/v2.1/servers') {
          const pattern = new RegExp(url.searchParams.get('name') ?? '');
          return send(200, { servers: [SERVER].filter((s) => pattern.test(s.name)).map((s) => ({ ...s, links: [] })) });
        }
        if (req.method === 'POST' && url.pathname === `/v2.1/servers/${SERVER.id}/remote-consoles`) {
          const answered = answer(JSON.parse(body), req.headers['x-openstack-nova-api-version'] as string | undefined);
          if (answered === 'hang') return undefined;
          return send(answered.status, answered.body);
        }
        send(404, { itemNotFound: { code: 404, message: 'The resource could not be found.' } });
      });
    });
    await new Promise<void>((resolve) => nova.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(nova.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => {
    nova.closeAllConnections();
    nova.close(() => resolve());
  }));

  const url = (args: string[], env: Record<string, string> = {}) => {
    seen.length = 0;
    return runCli(['url', ...args], { env: { VMCONSOLE_URL: base, VMCONSOLE_TOKEN: 'demo:demo', ...env } });
  };
  const consolePosts = () => seen.filter((s) => s.method === 'POST');

  it('--novnc by name: finds the server with ^web\\-1$, posts Nova\'s 2.6 body with the microversion headers, prints the URL', async () => {
    answer = documented;
    const run = await url([SERVER.name, '--novnc']);
    expect(run, run.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(`http://nova.example:6080/vnc_lite.html?path=%3Ftoken%3D${TOKEN}\n`);
    expect(new URL(seen[0]!.url, base).searchParams.get('name')).toBe('^web\\-1$');
    const [post] = consolePosts();
    expect(post!.url).toBe(`/v2.1/servers/${SERVER.id}/remote-consoles`);
    expect(JSON.parse(post!.body)).toEqual({ remote_console: { protocol: 'vnc', type: 'novnc' } });
    expect(post!.headers).toMatchObject({
      'openstack-api-version': 'compute 2.6', 'x-openstack-nova-api-version': '2.6',
      'x-auth-token': 'demo:demo', 'content-type': 'application/json', accept: 'application/json',
    });
  });

  it('--spice and --serial ask for their pairs; --json prints the server and Nova\'s remote_console; the default is noVNC', async () => {
    answer = documented;
    const spice = await url([SERVER.id, '--spice', '--json']);
    expect(spice.code).toBe(0);
    expect(JSON.parse(spice.stdout)).toEqual({ server: SERVER, remote_console: { protocol: 'spice', type: 'spice-html5', url: `http://nova.example:6082/spice_auto.html?token=${TOKEN}` } });
    expect(JSON.parse(consolePosts()[0]!.body)).toEqual({ remote_console: { protocol: 'spice', type: 'spice-html5' } });
    const serial = await url([SERVER.id, '--serial']);
    expect(serial.stdout).toBe(`ws://nova.example:6083/?token=${TOKEN}\n`);
    expect(JSON.parse(consolePosts()[0]!.body)).toEqual({ remote_console: { protocol: 'serial', type: 'serial' } });
    await url([SERVER.id]);
    expect(JSON.parse(consolePosts()[0]!.body)).toEqual({ remote_console: { protocol: 'vnc', type: 'novnc' } });
  });

  it('OS_COMPUTE_API_VERSION of 2.6 or later is sent with the console request only; an older one cannot ask for remote consoles, so 2.6 is sent', async () => {
    answer = documented;
    await url([SERVER.id, '--serial'], { OS_COMPUTE_API_VERSION: '2.8' });
    expect(consolePosts()[0]!.headers['openstack-api-version']).toBe('compute 2.8');
    // The lookup sends no microversion: an API whose newest is below the configured one answers it.
    expect(seen[0]!.headers['openstack-api-version']).toBeUndefined();
    await url([SERVER.id, '--serial'], { OS_COMPUTE_API_VERSION: '2.1' });
    expect(consolePosts()[0]!.headers['openstack-api-version']).toBe('compute 2.6');
  });

  it('Nova\'s faults: 400 (a console type the server has not) exit 6, 404 exit 3, 406 (no 2.6) exit 6 saying so; Nova\'s words, no stack', async () => {
    answer = (body) => ({ status: 400, body: { badRequest: { code: 400, message: `Unavailable console type ${body.remote_console.type}.` } } });
    const unavailable = await url([SERVER.id, '--serial']);
    expect(unavailable).toMatchObject({ code: 6, stdout: '', stderr: 'vmconsole: serial console of web-1: Unavailable console type serial. (badRequest, request req-00000000-0000-4000-8000-000000000001)\n' });

    answer = () => ({ status: 404, body: { itemNotFound: { code: 404, message: `Instance ${SERVER.id} could not be found.` } } });
    const gone = await url([SERVER.id, '--novnc', '--json']);
    expect(gone.code).toBe(3);
    expect(JSON.parse(gone.stderr)).toEqual({ error: { code: 'itemNotFound', message: `novnc console of web-1: Instance ${SERVER.id} could not be found.`, exitCode: 3, requestId: 'req-00000000-0000-4000-8000-000000000001' } });

    answer = () => ({ status: 406, body: { computeFault: { code: 406, message: 'Version 2.6 is not supported by the API. Minimum is 2.1 and maximum is 2.2.' } } });
    const old = await url([SERVER.id, '--novnc']);
    expect(old.code).toBe(6);
    expect(old.stderr).toBe('vmconsole: novnc console of web-1: this API does not offer remote consoles (compute API microversion 2.6 or later) (NotAcceptable, request req-00000000-0000-4000-8000-000000000001)\n');

    answer = () => ({ status: 200, body: { console: { type: 'novnc', url: 'http://x' } } });
    expect((await url([SERVER.id])).code).toBe(6);
  });

  it('Ctrl-C while Nova is slow to answer: exit 130 at once, nothing on stdout or stderr', async () => {
    let arrived!: () => void;
    const posted = new Promise<void>((resolve) => (arrived = resolve));
    answer = () => {
      arrived();
      return 'hang';
    };
    seen.length = 0;
    const started = Date.now();
    const run = await runCli(['url', SERVER.id], {
      env: { VMCONSOLE_URL: base, VMCONSOLE_TOKEN: 'demo:demo' },
      onSpawn: (child) => void posted.then(() => child.kill('SIGINT')),
    });
    expect(run).toMatchObject({ code: 130, stdout: '', stderr: '' });
    // Well before the CLI's own 60 s timeout.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('usage: two console kinds at once, or no server, is exit 2 and nothing is sent', async () => {
    for (const args of [[SERVER.id, '--novnc', '--serial'], []]) {
      const run = await url(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/error:/);
      expect(seen).toEqual([]);
    }
  });
});
