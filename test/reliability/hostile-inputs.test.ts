/**
 * Faults: hostile inputs end to end through HTTP (serverless-offline, real agent, jwt auth) —
 * a console.log that is a symlink to /etc/passwd, enormous lines, invalid UTF-8 and NUL bytes,
 * oversized, deeply nested and mistyped bodies, and forged, expired and foreign tokens.
 * The system must refuse what is hostile with the right status and serve what is merely odd,
 * decoded as Nova does; nothing may crash it (it keeps serving afterwards).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { Ledger } from '../helpers/reliability-fixture.ts';
import { useLocalStack } from '../helpers/suite-setup.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'reliability-suite-secret-of-at-least-32-bytes';
const WINDOW = 102_400;

const local = useLocalStack('rel-hostile', { authMode: 'jwt', jwtSecret: SECRET, heartbeatMs: 1_000 });
const ledger = new Ledger();
const ids = {
  passwd: '10000000-0000-4000-8000-000000000001',
  longLines: '10000000-0000-4000-8000-000000000002',
  binary: '10000000-0000-4000-8000-000000000003',
  noise: '10000000-0000-4000-8000-000000000004',
};
const longLog = Buffer.concat([Buffer.alloc(3 * 1024 * 1024, 'A'), Buffer.from('\n'), Buffer.alloc(200 * 1024, 'B'), Buffer.from('\ntail\n')]);
const binaryLog = Buffer.from([0x41, 0x00, 0xff, 0xc3, 0xa9, 0x1b, 0x5b, 0x30, 0x6d, 0x0d, 0x7f, 0x09, 0x42, 0x0a, 0x43]);
const noiseLog = randomBytes(300 * 1024);

const token = (claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string | number } = {}) => {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (options.expiresIn !== undefined) jwt.setExpirationTime(options.expiresIn);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
};
const demoToken = () => token({ sub: 'alice', project_id: 'demo' }, { expiresIn: '5m' });

async function post(serverId: string, body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; json: Record<string, any>; bytes: number }> {
  const res = await fetch(`${local.stack.url}/v2.1/servers/${serverId}/action`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json: Record<string, any>;
  try {
    json = JSON.parse(text) as Record<string, any>;
  } catch {
    json = { unparsed: text.slice(0, 200) };
  }
  return { status: res.status, json, bytes: Buffer.byteLength(text) };
}
const ask = async (serverId: string, action: unknown, auth?: string) =>
  post(serverId, typeof action === 'string' ? action : JSON.stringify(action), { 'x-auth-token': auth ?? await demoToken() });

/** Count one request: `expected` is the status the fault calls for. */
async function expectStatus(what: string, call: () => Promise<{ status: number; json: Record<string, any> }>, expected: number): Promise<{ status: number; json: Record<string, any> }> {
  let result: { status: number; json: Record<string, any> } | undefined;
  await ledger.track(call, ({ value, error }) => {
    result = value;
    if (error !== undefined) return `${what}: ${String(error)}`;
    if (value!.status !== expected) return `${what}: expected ${expected}, got ${value!.status} ${JSON.stringify(value!.json).slice(0, 300)}`;
    return expected === 200 ? 'answered' : 'refused';
  });
  expect(ledger.problems).toEqual([]);
  return result!;
}

beforeAll(async () => {
  const { stack } = local;
  const instance = async (id: string, log: Buffer | undefined) => {
    const dir = join(stack.instancesDir, id);
    await mkdir(dir);
    await writeFile(join(dir, 'instance.json'), JSON.stringify({ name: `hostile-${id.slice(-1)}`, projectId: 'demo', userId: 'alice' }));
    if (log) await writeFile(join(dir, 'console.log'), log);
    return dir;
  };
  await symlink('/etc/passwd', join(await instance(ids.passwd, undefined), 'console.log'));
  await instance(ids.longLines, longLog);
  await instance(ids.binary, binaryLog);
  await instance(ids.noise, noiseLog);
  await waitFor(async () => (await stack.directory.getServer(ids.noise)) !== undefined && (await stack.directory.getServer(ids.passwd)) !== undefined, 15_000, 'the agent to publish the hostile servers');
});

afterAll(() => {
  console.log(ledger.summary('reliability/hostile-inputs'));
});

describe('hostile logs', () => {
  it('refuses a console.log that is a symlink to /etc/passwd, without serving or naming it', async () => {
    ledger.faults += 1;
    const res = await expectStatus('symlink to /etc/passwd', () => ask(ids.passwd, { 'os-getConsoleOutput': {} }), 403);
    expect(JSON.stringify(res.json)).not.toMatch(/root:|\/etc\/passwd|instances/);
  });

  it('serves the last 100 KiB of a log with enormous lines', async () => {
    ledger.faults += 1;
    const window = longLog.subarray(longLog.length - WINDOW);
    expect((await expectStatus('enormous lines', () => ask(ids.longLines, { 'os-getConsoleOutput': {} }), 200)).json.output).toBe(window.toString('latin1'));
    expect((await expectStatus('enormous lines, length 2', () => ask(ids.longLines, { 'os-getConsoleOutput': { length: 2 } }), 200)).json.output).toBe('tail\n');
    expect((await expectStatus('enormous lines, length 3', () => ask(ids.longLines, { 'os-getConsoleOutput': { length: 3 } }), 200)).json.output).toBe(`${'B'.repeat(WINDOW - 6)}\ntail\n`);
  });

  it('decodes invalid UTF-8 and NUL bytes as Nova does', async () => {
    ledger.faults += 2;
    expect((await expectStatus('binary log', () => ask(ids.binary, { 'os-getConsoleOutput': {} }), 200)).json.output).toBe('A\uFFFD\uFFFD\uFFFD[0m\x7F\tB\nC');
    expect((await expectStatus('binary log, length 1', () => ask(ids.binary, { 'os-getConsoleOutput': { length: 1 } }), 200)).json.output).toBe('C');
    const noise = await expectStatus('300 KiB of random bytes', () => ask(ids.noise, { 'os-getConsoleOutput': {} }), 200);
    expect(noise.json.output).toBe(novaConsoleOutput(noiseLog.subarray(noiseLog.length - WINDOW), null));
  });
});

describe('hostile bodies', () => {
  const web = () => local.stack.demoServers[0].id;

  it('refuses an oversized body with 413 before reading it', async () => {
    ledger.faults += 1;
    const body = JSON.stringify({ 'os-getConsoleOutput': {}, pad: 'x'.repeat(200 * 1024) });
    const res = await expectStatus('oversized body', () => ask(web(), body), 413);
    expect(res.json.overLimit?.code).toBe(413);
  });

  it('refuses deeply nested JSON with 400', async () => {
    const depth = 30_000;
    for (const body of [
      `{"os-getConsoleOutput": {"length": ${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
    ]) {
      ledger.faults += 1;
      const res = await expectStatus(`deep JSON ${body.slice(0, 30)}`, () => ask(web(), body), 400);
      expect(res.json.badRequest?.code).toBe(400);
    }
  });

  it('refuses wrong types and shapes with 400', async () => {
    const bodies: unknown[] = [
      { 'os-getConsoleOutput': { length: 'abc' } },
      { 'os-getConsoleOutput': { length: true } },
      { 'os-getConsoleOutput': { length: {} } },
      { 'os-getConsoleOutput': { length: [1] } },
      { 'os-getConsoleOutput': { length: 1.5 } },
      { 'os-getConsoleOutput': { length: -2 } },
      { 'os-getConsoleOutput': { length: 1, extra: 1 } },
      { 'os-getConsoleOutput': null },
      { 'os-getConsoleOutput': 'all' },
      { 'os-getConsoleOutput': {}, 'os-stop': null },
      [],
      'null',
      '"os-getConsoleOutput"',
      '{"os-getConsoleOutput": {',
    ];
    for (const body of bodies) {
      ledger.faults += 1;
      const res = await expectStatus(`body ${JSON.stringify(body)}`, () => ask(web(), body), 400);
      expect(res.json.badRequest?.code).toBe(400);
    }
    ledger.faults += 1;
    await expectStatus('invalid UTF-8 body', async () => post(web(), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), { 'x-auth-token': await demoToken() }), 400);
  });

  it('answers 404 for server ids that try to leave the path', async () => {
    for (const id of ['..%2F..%2Fetc%2Fpasswd', '%2e%2e', `${web()}%00`, `${web()}%2F..`]) {
      ledger.faults += 1;
      await expectStatus(`server id ${id}`, () => ask(id, { 'os-getConsoleOutput': {} }), 404);
    }
  });
});

describe('hostile tokens', () => {
  const web = () => local.stack.demoServers[0];
  const ops = () => local.stack.demoServers[3];

  it('serves a valid token of the server\'s project, and an admin token for any project', async () => {
    await expectStatus('valid token', () => ask(web().id, { 'os-getConsoleOutput': { length: 1 } }), 200);
    await expectStatus('admin token', async () => ask(ops().id, { 'os-getConsoleOutput': { length: 1 } }, await token({ sub: 'root', project_id: 'admin', roles: ['admin'] }, { expiresIn: '5m' })), 200);
  });

  it('refuses forged, expired, unsigned, claimless and malformed tokens with 401', async () => {
    const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'alice', project_id: 'demo', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url')}.`;
    const valid = await demoToken();
    const [header, payload] = valid.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), project_id: 'ops' })).toString('base64url')}.${valid.split('.')[2]}`;
    const cases: Array<[string, string | undefined]> = [
      ['forged (another secret)', await token({ sub: 'alice', project_id: 'demo' }, { secret: 'an-attackers-secret-of-at-least-32-bytes!', expiresIn: '5m' })],
      ['expired', await token({ sub: 'alice', project_id: 'demo' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
      ['alg none', unsigned],
      ['payload swapped under the signature', tampered],
      ['no exp', await token({ sub: 'alice', project_id: 'demo' })],
      ['no project', await token({ sub: 'alice' }, { expiresIn: '5m' })],
      ['garbage', 'not.a.jwt'],
      ['huge', 'x'.repeat(9_000)],
      ['none', undefined],
    ];
    for (const [what, jwt] of cases) {
      ledger.faults += 1;
      const res = await expectStatus(`token ${what}`, () => post(web().id, JSON.stringify({ 'os-getConsoleOutput': {} }), jwt === undefined ? {} : { 'x-auth-token': jwt }), 401);
      expect(res.json.unauthorized?.code).toBe(401);
    }
  });

  it('answers 404 to a valid token of another project, exactly as for a server that does not exist', async () => {
    ledger.faults += 1;
    const other = await token({ sub: 'mallory', project_id: 'other' }, { expiresIn: '5m' });
    const res = await expectStatus('other project', () => ask(web().id, { 'os-getConsoleOutput': {} }, other), 404);
    expect(res.json).toEqual({ itemNotFound: { code: 404, message: `Instance ${web().id} could not be found.` } });
  });

  it('still serves normally after all of the above', async () => {
    const res = await expectStatus('after the abuse', () => ask(ids.binary, { 'os-getConsoleOutput': {} }), 200);
    expect(res.json.output).toBe('A\uFFFD\uFFFD\uFFFD[0m\x7F\tB\nC');
    expect(ledger.lost).toBe(0);
  });
});
