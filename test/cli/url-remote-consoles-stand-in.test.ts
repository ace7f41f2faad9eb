/**
 * `vmconsole url`: what only a Nova STAND-IN can show. The happy path (each console type's URL,
 * --json, by name and UUID, a configured microversion below 2.6) and Nova's 400 for a console the
 * server has not run against the real local stack and its relay in url-on-local-stack.test.ts. This
 * HTTP server answers as Nova's API reference documents and records what the CLI sent, for what
 * the stack cannot produce or let a test see:
 * - the exact microversion headers sent, and that the server lookup sends none (the stack accepts
 *   any of 2.6..2.8, so the choice is invisible there);
 * - 404 on the console request for a server the lookup found (deleted in between: a race the stack
 *   cannot be made to lose on demand), 406 from an API without 2.6 (the stack offers 2.6), and a
 *   200 without a console URL (the stack never answers that);
 * - Ctrl-C while the API is slow to answer (the stack answers promptly);
 * - usage errors sending nothing at all.
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

describe('vmconsole url against a Nova stand-in (what the local stack cannot produce)', () => {
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

  it('OS_COMPUTE_API_VERSION of 2.6 or later is sent with the console request only; an older one cannot ask for remote consoles, so 2.6 is sent', async () => {
    answer = documented;
    await url([SERVER.id, '--serial'], { OS_COMPUTE_API_VERSION: '2.8' });
    expect(consolePosts()[0]!.headers['openstack-api-version']).toBe('compute 2.8');
    // The lookup sends no microversion: an API whose newest is below the configured one answers it.
    expect(seen[0]!.headers['openstack-api-version']).toBeUndefined();
    await url([SERVER.id, '--serial'], { OS_COMPUTE_API_VERSION: '2.1' });
    expect(consolePosts()[0]!.headers['openstack-api-version']).toBe('compute 2.6');
  });

  it('Nova\'s faults the stack cannot give: 404 exit 3, 406 (no 2.6) exit 6 saying so, a 200 without a URL exit 6; Nova\'s words, no stack', async () => {
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
