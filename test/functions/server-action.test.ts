import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from '../../lib/limits/token-bucket.ts';
import { MAX_BODY_BYTES } from '../../lib/nova-api/request-body.ts';
import { createHandler } from '../../functions/server-action.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { defaultScript, okReply, PROTOCOL_VERSION, startEdgeFixture, type EdgeFixture } from '../helpers/edge-fixture.ts';
import { invoke, type HttpEventOptions } from '../helpers/http-event.ts';

let fx: EdgeFixture;
let handler: Parameters<typeof invoke>[0];

beforeAll(async () => {
  fx = await startEdgeFixture({ replyTimeoutMs: 800 });
  handler = createHandler(edgeDependencies(fx.env));
});
afterAll(async () => {
  await fx?.stop();
});
beforeEach(() => {
  fx.live.script = defaultScript;
  fx.live.received.length = 0;
});

function action(serverId: string, body: unknown, extra: Partial<HttpEventOptions> = {}) {
  return invoke(handler, {
    method: 'POST',
    path: `/v2.1/servers/${serverId}/action`,
    body,
    ...extra,
    headers: { 'x-auth-token': 'alice:proj-a', 'content-type': 'application/json', ...extra.headers },
  });
}

function expectFault(res: Awaited<ReturnType<typeof action>>, status: number, name: string, message?: string | RegExp) {
  expect(res.status, JSON.stringify(res.json)).toBe(status);
  expect(Object.keys(res.json)).toEqual([name]);
  expect(res.json[name].code).toBe(status);
  expect(typeof res.json[name].message).toBe('string');
  expect(res.json[name].message.length).toBeGreaterThan(0);
  if (message !== undefined) expect(res.json[name].message).toMatch(message);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers['openstack-api-version']).toBe('compute 2.1');
  expect(res.headers['x-openstack-nova-api-version']).toBe('2.1');
  expect(res.headers.vary).toBe('OpenStack-API-Version, X-OpenStack-Nova-API-Version');
}

describe('POST /v2.1/servers/{id}/action os-getConsoleOutput', () => {
  it('returns {"output": ...} from the host, and only that key', async () => {
    const res = await action(fx.servers.web.id, { 'os-getConsoleOutput': { length: 3 } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ output: 'console of instance-web-1 length=3\n' });
    expect(res.headers['openstack-api-version']).toBe('compute 2.1');
    expect(fx.live.received).toEqual([
      { v: PROTOCOL_VERSION, kind: 'console.output', server: { id: fx.servers.web.id, instanceName: 'instance-web-1' }, length: 3 },
    ]);
  });

  it.each([
    [{}, null],
    [{ length: null }, null],
    [{ length: '5' }, 5],
    [{ length: '007' }, 7],
    [{ length: -1 }, -1],
    [{ length: '-1' }, -1],
    [{ length: 0 }, 0],
  ])('sends %j to the host as length %j (openstack and nova client forms)', async (args, length) => {
    const res = await action(fx.servers.web.id, { 'os-getConsoleOutput': args });
    expect(res.status).toBe(200);
    expect(fx.live.received.at(-1)?.length).toBe(length);
  });

  it('works with curl -d (form-urlencoded content type) and a microversion header', async () => {
    const res = await action(fx.servers.web.id, '{"os-getConsoleOutput": {}}', {
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'openstack-api-version': 'compute 2.2' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['openstack-api-version']).toBe('compute 2.2');
  });

  it('admin sees another project\'s server', async () => {
    const res = await action(fx.servers.db.id, { 'os-getConsoleOutput': {} }, { headers: { 'x-auth-token': 'admin:ops' } });
    expect(res.status).toBe(200);
    expect(res.json.output).toContain('instance-db-1');
  });

  it('404 for an unknown server, in Nova\'s words', async () => {
    const id = randomUUID();
    expectFault(await action(id, { 'os-getConsoleOutput': {} }), 404, 'itemNotFound', `Instance ${id} could not be found.`);
  });

  it('404 for another project\'s server (existence not revealed)', async () => {
    const res = await action(fx.servers.db.id, { 'os-getConsoleOutput': {} });
    expectFault(res, 404, 'itemNotFound', `Instance ${fx.servers.db.id} could not be found.`);
    expect(fx.live.received).toHaveLength(0);
  });

  it.each(['not-a-uuid', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', `${randomUUID()}%2F..`, `${randomUUID()}x`])('404 for the id %s', async (id) => {
    expectFault(await action(id, { 'os-getConsoleOutput': {} }), 404, 'itemNotFound');
  });

  it('409 at once for a host known to be down, without sending anything', async () => {
    const started = Date.now();
    const res = await action(fx.servers.stale.id, { 'os-getConsoleOutput': {} });
    expect(Date.now() - started).toBeLessThan(500);
    expectFault(res, 409, 'conflictingRequest', 'The compute host of this server is down.');
    const queued = await fx.sqs.send(new ReceiveMessageCommand({ QueueUrl: fx.downQueueUrl, WaitTimeSeconds: 0, MaxNumberOfMessages: 10 }));
    expect(queued.Messages ?? []).toHaveLength(0);
  });

  it('409 when the server\'s host never registered', async () => {
    expectFault(await action(fx.servers.homeless.id, { 'os-getConsoleOutput': {} }), 409, 'conflictingRequest', /is not ready: its compute host is not registered\.$/);
  });

  it('504 naming the wait, not the host, when the host does not answer', async () => {
    const started = Date.now();
    const res = await action(fx.servers.quiet.id, { 'os-getConsoleOutput': {} });
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expectFault(res, 504, 'computeFault', 'The compute host of this server did not answer within 0.8 s.');
    expect(fx.silent.received.map((r) => r.server.id)).toContain(fx.servers.quiet.id);
  });

  it.each([
    ['NoConsole', 404, 'itemNotFound'],
    ['NotImplemented', 501, 'notImplemented'],
    ['ServerNotFound', 404, 'itemNotFound'],
  ] as const)('an agent %s error becomes %i %s with its message', async (code, status, name) => {
    fx.live.script = () => ({ v: PROTOCOL_VERSION, ok: false, error: { code, message: `agent says ${code}` } });
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': {} }), status, name, `agent says ${code}`);
  });

  it('an agent Internal error is a 500 whose text tenants never read: generic, with the request id', async () => {
    fx.live.script = () => ({ v: PROTOCOL_VERSION, ok: false, error: { code: 'Internal', message: 'agent says Internal: /var/lib/secret' } });
    const res = await action(fx.servers.web.id, { 'os-getConsoleOutput': {} });
    const requestId = res.headers['x-openstack-request-id'];
    expectFault(res, 500, 'computeFault', `Unexpected API Error. The request ${requestId} failed; the operator log has the details.`);
    const admin = await action(fx.servers.web.id, { 'os-getConsoleOutput': {} }, { headers: { 'x-auth-token': 'admin:ops' } });
    expectFault(admin, 500, 'computeFault', /failed; the operator log has the details\. \(operator detail: agent says Internal: \/var\/lib\/secret; host h-live\)$/);
  });

  it('a malformed agent result is a 500, not passed through', async () => {
    fx.live.script = () => ({ v: PROTOCOL_VERSION, ok: true, result: { output: 42 } });
    const res = await action(fx.servers.web.id, { 'os-getConsoleOutput': {} });
    expectFault(res, 500, 'computeFault', /The request req-[0-9a-f-]+ failed/);
    expect(res.json.computeFault.message).not.toContain('output');
    const admin = await action(fx.servers.web.id, { 'os-getConsoleOutput': {} }, { headers: { 'x-auth-token': 'admin:ops' } });
    expectFault(admin, 500, 'computeFault', /h-live/);
  });

  it('passes an empty output through as ""', async () => {
    fx.live.script = () => okReply('');
    const res = await action(fx.servers.web.id, { 'os-getConsoleOutput': { length: 0 } });
    expect(res.json).toEqual({ output: '' });
  });
});

describe('POST /v2.1/servers/{id}/action: bad input', () => {
  it.each([2.5, true, 'NaN', '', ' 5', '+5', {}, '-2', -2, [1]])('400 for length %j', async (length) => {
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': { length } }), 400, 'badRequest', /^Invalid input for field\/attribute length\. /);
    expect(fx.live.received).toHaveLength(0);
  });

  it('400 for unknown keys inside the action', async () => {
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': { length: 1, lines: 2 } }), 400, 'badRequest', /'lines' was unexpected/);
  });

  it('400 for a second key next to the action (Nova: malformed)', async () => {
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': {}, extra: 1 }), 400, 'badRequest', 'Malformed request body');
  });

  it.each(['{', '', 'null', '[]', '"os-getConsoleOutput"', '{}'])('400 Malformed request body for %j', async (body) => {
    expectFault(await action(fx.servers.web.id, body), 400, 'badRequest', 'Malformed request body');
  });

  it('400 for a non-object action value', async () => {
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': 5 }), 400, 'badRequest', /not of type 'object'/);
  });

  it('400 for an unknown action, in Nova\'s words', async () => {
    expectFault(await action(fx.servers.web.id, { reboot: { type: 'HARD' } }), 400, 'badRequest', 'There is no such action: reboot');
  });

  it('400 and no crash for deeply nested JSON', async () => {
    const deep = `{"os-getConsoleOutput": {"length": ${'['.repeat(30_000)}${']'.repeat(30_000)}}}`;
    expectFault(await action(fx.servers.web.id, deep), 400, 'badRequest');
  });

  it('415 for a content type that is not JSON', async () => {
    expectFault(await action(fx.servers.web.id, '<xml/>', { headers: { 'content-type': 'application/xml' } }), 415, 'badMediaType');
  });

  it('413 for a 65 KiB body', async () => {
    const body = JSON.stringify({ 'os-getConsoleOutput': { pad: 'x'.repeat(65 * 1024) } });
    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_BODY_BYTES);
    expectFault(await action(fx.servers.web.id, body), 413, 'overLimit');
  });

  it('401 without a token, and with an invalid one', async () => {
    const anonymous = await invoke(handler, { method: 'POST', path: `/v2.1/servers/${fx.servers.web.id}/action`, body: { 'os-getConsoleOutput': {} } });
    expectFault(anonymous, 401, 'unauthorized', /X-Auth-Token/);
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': {} }, { headers: { 'x-auth-token': ':proj-a' } }), 401, 'unauthorized');
  });

  it('406 for an unsupported microversion', async () => {
    expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': {} }, { headers: { 'openstack-api-version': 'compute 2.9' } }), 406, 'computeFault', /Minimum is 2\.1/);
  });

  // This fixture configures no console token table: every console type is off, as Nova's `enabled = false`
  // (the consoles themselves: test/remote-consoles, test/relay).
  it.each([['os-getVNCConsole', 'novnc'], ['os-getSPICEConsole', 'spice-html5'], ['os-getSerialConsole', 'serial']])('%s: 404 for another project\'s server, else 400 unavailable', async (name, type) => {
    expectFault(await action(fx.servers.web.id, { [name]: { type } }), 400, 'badRequest', `Unavailable console type ${type}.`);
    expectFault(await action(fx.servers.db.id, { [name]: { type } }), 404, 'itemNotFound');
  });

  it('os-getRDPConsole: Nova\'s bare 400 (removed with its Hyper-V driver), without a lookup', async () => {
    expectFault(await action(fx.servers.db.id, { 'os-getRDPConsole': { type: 'rdp-html5' } }), 400, 'badRequest', /could not comply/);
  });
});

describe('POST /v2.1/servers/{id}/action: Nova\'s Draft 4 number rules and dispatch', () => {
  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'])('400 "no such action" for the inherited name %s', async (name) => {
    const res = await action(fx.servers.web.id, `{"${name}": {}}`);
    expectFault(res, 400, 'badRequest', `There is no such action: ${name}`);
    expect(res.raw.body).not.toContain('native code');
  });

  it.each(['2.0', '1E2', '1e23', '-1.0', '3e0'])('400 for length written as %s (not an integer in Draft 4)', async (written) => {
    const res = await action(fx.servers.web.id, `{"os-getConsoleOutput": {"length": ${written}}}`);
    expectFault(res, 400, 'badRequest', `Invalid input for field/attribute length. Value: ${written}. ${written} is not of type 'integer', 'string', 'null'`);
    expect(fx.live.received).toHaveLength(0);
  });

  it('accepts a huge literal integer, as number or string, as "everything"', async () => {
    for (const length of ['99999999999999999999999', '"99999999999999999999999"']) {
      const res = await action(fx.servers.web.id, `{"os-getConsoleOutput": {"length": ${length}}}`);
      expect(res.status, length).toBe(200);
      expect(fx.live.received.at(-1)?.length).toBe(Number.MAX_SAFE_INTEGER);
    }
  });

  it('"5\\n" is 5 (Python\'s $ matches before a final newline); other trailing whitespace is not', async () => {
    expect((await action(fx.servers.web.id, { 'os-getConsoleOutput': { length: '5\n' } })).status).toBe(200);
    expect(fx.live.received.at(-1)?.length).toBe(5);
    for (const length of ['5\n\n', '5\r\n', '5\t', '\n5']) {
      expectFault(await action(fx.servers.web.id, { 'os-getConsoleOutput': { length } }), 400, 'badRequest', /does not match/);
    }
  });

  it('a fraction elsewhere in the body does not confuse the action name, and strings with dots are strings', async () => {
    expectFault(await action(fx.servers.web.id, '2.0'), 400, 'badRequest', 'Malformed request body');
    expectFault(await action(fx.servers.web.id, '{"os-getConsoleOutput": 1.5}'), 400, 'badRequest', /1\.5 is not of type 'object'/);
    expectFault(await action(fx.servers.web.id, '{"os-getConsoleOutput": {"length": "2.0"}}'), 400, 'badRequest', /'2\.0' does not match/);
  });

  it('400 for a body starting with a UTF-8 BOM, as Nova', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"os-getConsoleOutput": {}}')]).toString('base64');
    expectFault(await action(fx.servers.web.id, body, { isBase64Encoded: true }), 400, 'badRequest', 'Malformed request body');
    expect(fx.live.received).toHaveLength(0);
  });
});

describe('POST /v2.1/servers/{id}/action: rate limits protect the hosts', () => {
  it('a project over its limit gets 429 overLimit with Retry-After, and its host is not asked; other projects go on', async () => {
    const limiter = new KeyedRateLimiter({ perKey: { ratePerSecond: 0.2, burst: 2 }, global: { ratePerSecond: 1000, burst: 1000 } });
    const limited = createHandler(edgeDependencies(fx.env, { limiter }));
    const ask = (token: string, id = fx.servers.web.id) =>
      invoke(limited, { method: 'POST', path: `/v2.1/servers/${id}/action`, body: { 'os-getConsoleOutput': {} }, headers: { 'x-auth-token': token, 'content-type': 'application/json' } });
    expect((await ask('alice:proj-a')).status).toBe(200);
    expect((await ask('alice:proj-a')).status).toBe(200);
    const before = fx.live.received.length;
    const refused = await ask('alice:proj-a');
    expectFault(refused, 429, 'overLimit', /^This request was rate-limited\. Retry after \d+ s\.$/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(5);
    expect(refused.json.overLimit.retryAfter).toBe(refused.headers['retry-after']);
    expect(fx.live.received).toHaveLength(before);
    expect((await ask('bob:proj-b', fx.servers.db.id)).status).toBe(200);
  });
});
