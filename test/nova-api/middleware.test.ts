import { describe, expect, it } from 'vitest';
import { readAuthConfig } from '../../lib/auth/config.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import { KeyedRateLimiter } from '../../lib/limits/token-bucket.ts';
import { ANSWER_MARGIN_MS, novaApi, requestDeadline } from '../../lib/nova-api/middleware.ts';
import { hasWrittenFraction } from '../../lib/contracts/nova-json.ts';
import { MAX_BODY_BYTES } from '../../lib/nova-api/request-body.ts';
import { httpEvent, invoke, lambdaContext } from '../helpers/http-event.ts';

const auth = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'noauth' });
const echo = novaApi(async ({ body, principal, microversion }) => ({ status: 200, body: { body: body ?? null, principal, microversion } }), { auth, parseBody: true });
const boom = novaApi(async () => {
  throw new Error('database password is hunter2');
}, { auth: false });
const typed = novaApi(async () => {
  throw new VmconsoleError('HostTimeout', 'Compute host h1 did not answer within 10 s.');
}, { auth: false });

const post = (extra: { body?: unknown; headers?: Record<string, string>; isBase64Encoded?: boolean }) =>
  invoke(echo, { method: 'POST', path: '/v2.1/x', ...extra, headers: { 'x-auth-token': 'u:p', 'content-type': 'application/json', ...extra.headers } });

function expectEcho(res: { headers: Record<string, string> }) {
  expect(res.headers['openstack-api-version']).toBe('compute 2.1');
  expect(res.headers['x-openstack-nova-api-version']).toBe('2.1');
  expect(res.headers.vary).toBe('OpenStack-API-Version, X-OpenStack-Nova-API-Version');
  expect(res.headers['x-openstack-request-id']).toMatch(/^req-/);
}

describe('Nova edge stack: bodies', () => {
  it('parses JSON, also with a charset, the vendor type, text/plain or no type', async () => {
    for (const type of ['application/json', 'application/json; charset=UTF-8', 'application/vnd.openstack.compute+json', 'text/plain', '']) {
      const res = await post({ body: { a: 1 }, headers: { 'content-type': type } });
      expect(res.status, type).toBe(200);
      expect(res.json.body).toEqual({ a: 1 });
    }
  });

  it('parses JSON sent as application/x-www-form-urlencoded (curl -d), unlike Nova', async () => {
    const res = await post({ body: '{"os-getConsoleOutput":{"length":5}}', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    expect(res.json.body).toEqual({ 'os-getConsoleOutput': { length: 5 } });
  });

  it('honours isBase64Encoded', async () => {
    const res = await post({ body: Buffer.from('{"k":"v"}').toString('base64'), isBase64Encoded: true });
    expect(res.json.body).toEqual({ k: 'v' });
  });

  it.each(['application/xml', 'multipart/form-data; boundary=x', 'image/png'])('415 badMediaType for %s', async (type) => {
    const res = await post({ body: '{}', headers: { 'content-type': type } });
    expect(res.status).toBe(415);
    expect(res.json.badMediaType.code).toBe(415);
    expect(res.json.badMediaType.message).toMatch(/Unsupported Content-Type/);
    expectEcho(res);
  });

  it.each(['{', '{"a":}', 'null x', '\u00ff\u00fe', "{'a': 1}"])('400 Malformed request body for %j', async (body) => {
    const res = await post({ body });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ badRequest: { code: 400, message: 'Malformed request body' } });
    expectEcho(res);
  });

  it('400 for invalid UTF-8', async () => {
    const res = await post({ body: Buffer.from([0x7b, 0xff, 0x7d]).toString('base64'), isBase64Encoded: true });
    expect(res.status).toBe(400);
  });

  it('parses deeply nested JSON without crashing', async () => {
    const shape = novaApi(async ({ body }) => ({ status: 200, body: { array: Array.isArray(body) } }), { auth: false, parseBody: true });
    const res = await invoke(shape, { method: 'POST', path: '/v2.1/x', body: `${'['.repeat(30_000)}${']'.repeat(30_000)}` });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ array: true });
  });

  it('413 overLimit above 64 KiB, plain or base64, before parsing', async () => {
    const big = `"${'x'.repeat(MAX_BODY_BYTES)}"`;
    const plain = await post({ body: big });
    expect(plain.status).toBe(413);
    expect(plain.json.overLimit).toMatchObject({ code: 413 });
    expect(plain.json.overLimit.message).toMatch(/limit is 65536/);
    expectEcho(plain);
    const encoded = await post({ body: Buffer.from('{'.repeat(MAX_BODY_BYTES + 1)).toString('base64'), isBase64Encoded: true });
    expect(encoded.status).toBe(413);
    const declared = await post({ body: '{}', headers: { 'content-length': String(10 * MAX_BODY_BYTES) } });
    expect(declared.status).toBe(413);
  });

  it('accepts exactly 64 KiB', async () => {
    const exact = `"${'x'.repeat(MAX_BODY_BYTES - 2)}"`;
    expect((await post({ body: exact })).status).toBe(200);
  });
});

describe('Nova edge stack: auth, microversions, errors', () => {
  it('401 unauthorized without a token, with the echo', async () => {
    const res = await invoke(echo, { method: 'POST', path: '/v2.1/x', body: '{}' });
    expect(res.status).toBe(401);
    expect(res.json.unauthorized.code).toBe(401);
    expect(res.json.unauthorized.message).toMatch(/X-Auth-Token/);
    expectEcho(res);
  });

  it('authentication comes before the microversion check (as behind Keystone)', async () => {
    const res = await invoke(echo, { method: 'POST', path: '/v2.1/x', body: '{}', headers: { 'x-openstack-nova-api-version': '2.99' } });
    expect(res.status).toBe(401);
  });

  it('passes principal and microversion to the handler and echoes the version', async () => {
    const res = await post({ body: '{}', headers: { 'openstack-api-version': 'compute 2.2' } });
    expect(res.json.principal).toMatchObject({ userId: 'u', projectId: 'p' });
    expect(res.json.microversion).toEqual({ major: 2, minor: 2 });
    expect(res.headers['openstack-api-version']).toBe('compute 2.2');
  });

  it('unknown errors become a generic 500 computeFault without details', async () => {
    const res = await invoke(boom, { path: '/v2.1/' });
    expect(res.status).toBe(500);
    expect(res.json.computeFault.code).toBe(500);
    expect(res.raw.body).not.toContain('hunter2');
    expect(res.json.computeFault.message).toContain(res.headers['x-openstack-request-id']);
    expectEcho(res);
  });

  it('typed errors keep their status and message (504 is a computeFault)', async () => {
    const res = await invoke(typed, { path: '/v2.1/' });
    expect(res.status).toBe(504);
    expect(res.json).toEqual({ computeFault: { code: 504, message: 'Compute host h1 did not answer within 10 s.' } });
  });

  it('normalises header case', async () => {
    const res = await invoke(echo, { method: 'POST', path: '/v2.1/x', body: '{}', headers: { 'X-Auth-Token': 'Up:Q', 'OpenStack-API-Version': 'compute 2.2' } });
    expect(res.status).toBe(200);
    expect(res.json.principal).toMatchObject({ userId: 'Up', projectId: 'Q' });
  });
});

describe('Nova edge stack: rate limits', () => {
  const limited = () => {
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 0.5, burst: 2 }, global: { ratePerSecond: 1000, burst: 1000 } });
    return novaApi(async ({ principal }) => ({ status: 200, body: { project: principal.projectId } }), { auth, limiter });
  };
  const get = (handler: Parameters<typeof invoke>[0], token: string) => invoke(handler, { path: '/v2.1/servers', headers: { 'x-auth-token': token } });

  it('429 overLimit with Retry-After in whole seconds once a project spends its burst; other projects go on', async () => {
    const handler = limited();
    expect((await get(handler, 'u:p1')).status).toBe(200);
    expect((await get(handler, 'u:p1')).status).toBe(200);
    const refused = await get(handler, 'u:p1');
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toMatch(/^[12]$/);
    expect(refused.json).toEqual({ overLimit: { code: 429, message: `This request was rate-limited. Retry after ${refused.headers['retry-after']} s.`, retryAfter: refused.headers['retry-after'] } });
    expectEcho(refused);
    expect((await get(handler, 'other:p2')).status).toBe(200);
  });

  it('counts after authentication: requests without a valid token spend nothing', async () => {
    const handler = limited();
    for (let i = 0; i < 5; i++) expect((await invoke(handler, { path: '/v2.1/servers' })).status).toBe(401);
    expect((await get(handler, 'u:p1')).status).toBe(200);
  });
});

describe('Nova edge stack: the deadline', () => {
  const deadlineOf = (hostWaitMs?: number) =>
    novaApi(async ({ deadline }) => ({ status: 200, body: { left: deadline - Date.now() } }), { auth: false, ...(hostWaitMs ? { hostWaitMs } : {}) });
  const call = (handler: Parameters<typeof invoke>[0], remainingMs: number) =>
    handler(httpEvent({ path: '/v2.1/' }), lambdaContext(remainingMs)).then((r) => JSON.parse(String((r as { body: string }).body)).left as number);

  it('is the host wait when the invocation has time to spare', async () => {
    const left = await call(deadlineOf(800), 15_000);
    expect(left).toBeGreaterThan(700);
    expect(left).toBeLessThanOrEqual(800);
  });

  it('leaves the margin to answer when the invocation has less time than the host wait', async () => {
    const left = await call(deadlineOf(10_000), 3_000);
    expect(left).toBeLessThanOrEqual(3_000 - ANSWER_MARGIN_MS);
    expect(left).toBeGreaterThan(3_000 - ANSWER_MARGIN_MS - 200);
  });

  it('is now when less than the margin is left', async () => {
    expect(await call(deadlineOf(10_000), 1_000)).toBeLessThanOrEqual(0);
  });

  it('requestDeadline is now + min(host wait, remaining - margin), never in the past', () => {
    expect(requestDeadline(1_000, 20_000, 10_000)).toBe(11_000);
    expect(requestDeadline(1_000, 5_000, 10_000)).toBe(1_000 + 5_000 - ANSWER_MARGIN_MS);
    expect(requestDeadline(1_000, 100, 10_000)).toBe(1_000);
  });
});

describe('Nova edge stack: what tenants and admins read of an error', () => {
  const hostDown = novaApi(async () => {
    throw new VmconsoleError('HostDown', 'The compute host of this server is down.', { detail: 'host cmp-17 missed 3 heartbeats' });
  }, { auth });
  const get = (token: string) => invoke(hostDown, { path: '/v2.1/servers/x', headers: { 'x-auth-token': token } });

  it('an exposed message is shown to both; the operator detail only to admins', async () => {
    const tenant = await get('u:p');
    expect(tenant.json).toEqual({ conflictingRequest: { code: 409, message: 'The compute host of this server is down.' } });
    expect(tenant.raw.body).not.toContain('cmp-17');
    const admin = await get('admin:ops');
    expect(admin.json).toEqual({ conflictingRequest: { code: 409, message: 'The compute host of this server is down. (operator detail: host cmp-17 missed 3 heartbeats)' } });
  });
});

describe('request body: numbers written with a fraction or an exponent', () => {
  it.each([
    ['{"a": 2.0}', true],
    ['{"a": 1E2}', true],
    ['{"a": -3e-2}', true],
    ['[1, 2, 3]', false],
    ['{"a": "2.0"}', false],
    ['{"a\\"1.5": 1}', false],
    ['{"s": "x\\\\", "n": 1.5}', true],
    ['{"t": true, "f": false, "e": null}', false],
  ])('%s -> %s', (text, expected) => {
    expect(hasWrittenFraction(text)).toBe(expected);
  });

  it('keeps them as written (raw JSON, not a number); integers stay numbers, huge ones too', async () => {
    const res = await post({ body: '{"a": 2.0, "b": 2, "c": 99999999999999999999999, "d": [1e2]}' });
    expect(res.status).toBe(200);
    expect(res.raw.body).toContain('"a":2.0');
    expect(res.raw.body).toContain('"d":[1e2]');
    expect(res.json.body).toMatchObject({ b: 2, c: 1e23 });
  });
});
