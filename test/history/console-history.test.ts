/**
 * Console history end to end on the local stack's parts: real agent processes (files driver) on two
 * hosts shipping to S3 (fauxqs), the real GET .../console and .../consoles handlers reading S3 and
 * asking the hosts over SQS. Bytes go in raw (binary, invalid UTF-8) and must come out byte for
 * byte across rotation, an `append='off'` wipe, an agent killed and restarted, a migration to
 * another host, and S3 down then back.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as consoleHandler } from '../../functions/read-console.ts';
import { createHandler as consolesHandler } from '../../functions/list-consoles.ts';
import { createHandler as serverActionHandler } from '../../functions/server-action.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { virtlogdRotation } from '../../lib/console/rotated-log.ts';
import { HistoryStore } from '../../lib/history/history-store.ts';
import { createHistoryS3Client, ensureHistoryBucket } from '../../lib/history/s3-client.ts';
import { createApiDependencies } from '../../lib/vmconsole-api/wiring.ts';
import { kill, startAgentProcess } from '../helpers/agent-process.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { httpEvent, invoke, lambdaContext, type HttpResult } from '../helpers/http-event.ts';
import { loadOpenApi, type OpenApi } from '../helpers/openapi.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { waitFor } from '../helpers/wait.ts';

const CONSOLE = '/vmconsole/v1/servers/{server_id}/console';
const CONSOLES = '/vmconsole/v1/servers/{server_id}/consoles';
const BUCKET = 'vmconsole-test-history';
const token = { 'X-Auth-Token': 'alice:p1' };

/** Binary console output: every byte value, invalid UTF-8 sequences, CRLF, escapes, a cut multibyte character. */
function hostileBytes(label: string, size = 3000): Buffer {
  return Buffer.concat([Buffer.from(`\r\n== ${label} ==\r\n`), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xe2, 0x82]), randomBytes(size), Buffer.from(' é€😀\n')]);
}

describe('console history: byte-exact across rotation, reboot, agent restart, migration and S3 outages', () => {
  const aws = useLocalAws();
  let work: string;
  let dirA: string;
  let dirB: string;
  let proxy: FaultProxy;
  let agentA: ChildProcess | undefined;
  let agentB: ChildProcess | undefined;
  let api: OpenApi;
  let store: HistoryStore;
  let handlers: { console: ReturnType<typeof consoleHandler>; consoles: ReturnType<typeof consolesHandler>; nova: ReturnType<typeof serverActionHandler> };
  let novaDeps: ReturnType<typeof edgeDependencies>;
  const serverId = randomUUID();
  /** Everything written to the guest's console so far, in order: what history must hold. */
  let written = Buffer.alloc(0);

  // Output is shipped within a second of being written, so S3 can be checked without waiting for a rotation or a stop.
  const agentEnv = () => ({ ...aws.env, VMCONSOLE_HISTORY_BUCKET: BUCKET, VMCONSOLE_S3_ENDPOINT: proxy.endpoint, VMCONSOLE_HISTORY_SHIP_MS: '1000', POWERTOOLS_LOG_LEVEL: 'INFO' });
  const startA = async () => (agentA = await startAgentProcess(agentEnv(), { host: 'hist-a', directory: aws.directory, instancesDir: dirA, logFile: join(work, 'agent-a.log'), heartbeatMs: 500 }));
  const startB = async () => (agentB = await startAgentProcess(agentEnv(), { host: 'hist-b', directory: aws.directory, instancesDir: dirB, logFile: join(work, 'agent-b.log'), heartbeatMs: 500 }));
  const logOf = (dir: string) => join(dir, serverId, 'console.log');

  async function write(dir: string, bytes: Buffer): Promise<void> {
    await appendFile(logOf(dir), bytes);
    written = Buffer.concat([written, bytes]);
  }

  async function get(query: Record<string, string>, headers: Record<string, string> = token, id = serverId) {
    const res = await invoke(handlers.console, { method: 'GET', path: CONSOLE.replace('{server_id}', id), headers, pathParameters: { server_id: id }, query });
    if (res.headers['content-type'] === 'application/json') expect(api.check('GET', CONSOLE, res.status, res.json)).toEqual([]);
    return res;
  }

  /** The whole history through the API, page by page from 0 (format=raw). */
  async function readAll(limit = 4096): Promise<{ bytes: Buffer; incomplete: boolean; gaps: unknown[] }> {
    const parts: Buffer[] = [];
    let since = 0;
    let incomplete = false;
    const gaps: unknown[] = [];
    for (let page = 0; page < 10_000; page++) {
      const res = await get({ since: String(since), limit: String(limit), format: 'raw' });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      const { offset, next, end, data } = res.json;
      if (res.json.incomplete) incomplete = true;
      if (res.json.gap) gaps.push(res.json.gap);
      expect(offset).toBe(res.json.gap ? res.json.gap.to : since);
      parts.push(Buffer.from(data, 'base64'));
      since = next;
      if (next >= end) break;
    }
    return { bytes: Buffer.concat(parts), incomplete, gaps };
  }

  /** History through the API equals what was written, complete and without gaps. */
  async function historyMatches(): Promise<void> {
    await waitFor(async () => {
      const all = await readAll(64 * 1024);
      return all.bytes.equals(written) && !all.incomplete && all.gaps.length === 0;
    }, 20_000, 'history through the API to equal what was written');
  }

  /** S3 alone (the host left out) holds everything written. */
  async function s3Holds(): Promise<void> {
    await waitFor(async () => {
      const head = await store.getHead(serverId, 0).catch(() => undefined);
      if (head?.next !== written.length) return false;
      const segments = await store.listSegments(serverId, 0, 0, written.length);
      const { readSegments } = await import('../../lib/history/history-store.ts');
      return (await readSegments(store, segments, 0, written.length)).equals(written);
    }, 20_000, 'S3 to hold every byte written');
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'vmconsole-history-'));
    dirA = join(work, 'host-a');
    dirB = join(work, 'host-b');
    await mkdir(join(dirA, serverId), { recursive: true });
    await mkdir(dirB, { recursive: true });
    await writeFile(join(dirA, serverId, 'instance.json'), JSON.stringify({ name: 'hist-1', projectId: 'p1', userId: 'alice' }));
    await write(dirA, hostileBytes('boot 1 before the agent'));
    proxy = await startFaultProxy(aws.sqsEndpoint);
    const s3 = createHistoryS3Client({ ...aws.env, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint });
    await ensureHistoryBucket(s3, BUCKET);
    store = new HistoryStore(s3, BUCKET);
    api = await loadOpenApi();
    const deps = createApiDependencies(
      { ...aws.env, VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_RATE_PROJECT_PER_S: '0', VMCONSOLE_RATE_API_PER_S: '0', VMCONSOLE_HISTORY_BUCKET: BUCKET, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint, VMCONSOLE_REPLY_TIMEOUT_MS: '3000' },
      { edge: { logger: recordingLogger() } },
    );
    novaDeps = edgeDependencies({ ...aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '3000' });
    handlers = { console: consoleHandler(deps), consoles: consolesHandler(deps), nova: serverActionHandler(novaDeps) };
    await startA();
  }, 60_000);

  /** The Nova API's answer: os-getConsoleOutput through the real handler and the host. */
  async function novaOutput(length: number | null): Promise<string> {
    const res = await invoke(handlers.nova, { method: 'POST', path: `/v2.1/servers/${serverId}/action`, headers: { 'x-auth-token': 'alice:p1', 'content-type': 'application/json' }, body: { 'os-getConsoleOutput': { length } } });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    return res.json.output as string;
  }

  afterAll(async () => {
    novaDeps?.requester.close();
    await kill(agentA);
    await kill(agentB);
    await proxy?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('serves what the log held before the agent started, from offset 0, byte for byte', async () => {
    await historyMatches();
    const text = await get({ since: '0', limit: '65536' });
    expect(text.json.format).toBe('text');
    expect(text.json.data).toContain('== boot 1 before the agent ==');
    // Invalid UTF-8 is replaced, not dropped: text is never the lossy ASCII of the Nova API.
    expect(text.json.data).toContain('\uFFFD');
    expect(text.json.data).toContain('é€😀');
  });

  it('keeps one offset sequence across a rotation, and ships the rotated file', async () => {
    await write(dirA, hostileBytes('before rotation'));
    await historyMatches();
    await virtlogdRotation(logOf(dirA)).rotate();
    await writeFile(logOf(dirA), '');
    await write(dirA, hostileBytes('after rotation'));
    await historyMatches();
    // The rotated file is complete: everything up to it is in S3.
    await waitFor(async () => ((await store.getHead(serverId, 0))?.next ?? 0) >= written.length - hostileBytes('after rotation').length, 15_000, 'the rotated file to be shipped');
  });

  it('keeps the output of a boot whose log was wiped at the next start (append=\'off\')', async () => {
    await write(dirA, hostileBytes('boot 1 last words'));
    await historyMatches();
    for (const file of virtlogdRotation(logOf(dirA)).files) await unlink(file).catch(() => undefined);
    await writeFile(logOf(dirA), '');
    await write(dirA, hostileBytes('boot 2'));
    await historyMatches();
    await s3Holds();
  });

  it('gives the Nova API its 100 KiB window from the whole history: the wiped boot is still there, Nova\'s shaping unchanged', async () => {
    const window = written.subarray(Math.max(0, written.length - 102_400));
    for (const length of [null, 5, -1]) expect(await novaOutput(length)).toBe(novaConsoleOutput(window, length));
    expect(await novaOutput(null)).toContain('== boot 1 last words ==');
  });

  it('long-polls with wait= until a new line is written, then returns it at once', async () => {
    const since = written.length;
    const started = Date.now();
    const pending = get({ since: String(since), wait: '10', format: 'text' });
    setTimeout(() => void write(dirA, Buffer.from('a line written while a reader waits\n')), 400);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.json.offset).toBe(since);
    expect(res.json.data).toBe('a line written while a reader waits\n');
    // Woken by the follower, not at the end of the wait.
    expect(Date.now() - started).toBeLessThan(8_000);
  });

  it('resumes where it shipped after the agent is killed, nothing lost or doubled', async () => {
    await write(dirA, hostileBytes('just before the kill'));
    await historyMatches();
    await kill(agentA);
    await write(dirA, hostileBytes('while the agent is down'));
    await startA();
    await historyMatches();
  });

  it('loses nothing while S3 is down: the host serves it, shipping is retried, S3 gets all of it', async () => {
    await s3Holds();
    proxy.down = true;
    try {
      await write(dirA, hostileBytes('while S3 is down'));
      await virtlogdRotation(logOf(dirA)).rotate();
      await writeFile(logOf(dirA), '');
      await write(dirA, hostileBytes('still down, after a rotation'));
      // The host holds what S3 cannot take yet: the newest bytes are readable.
      await waitFor(async () => {
        const res = await get({ since: String(written.length - 200), format: 'raw' });
        return res.status === 200 && Buffer.from(res.json.data, 'base64').equals(written.subarray(written.length - 200));
      }, 15_000, 'the newest bytes from the host while S3 is down');
      await waitFor(async () => proxy.refused > 0, 15_000, 'the agent to try shipping');
    } finally {
      proxy.down = false;
    }
    await s3Holds();
    await historyMatches();
  });

  it('continues the sequence on the destination of a migration; the source ships what it had', async () => {
    await write(dirA, hostileBytes('last words on host a'));
    await historyMatches();
    await startB();
    // The destination's log is new (libvirt's is not migrated: Nova bug 1203193); the source's goes away.
    await mkdir(join(dirB, serverId));
    await writeFile(join(dirB, serverId, 'instance.json'), JSON.stringify({ name: 'hist-1', projectId: 'p1', userId: 'alice' }));
    await rm(join(dirA, serverId), { recursive: true });
    await waitFor(async () => (await aws.directory.getServer(serverId))?.host === 'hist-b', 15_000, 'the server to be on host b');
    await appendFile(logOf(dirB), Buffer.alloc(0));
    await write(dirB, hostileBytes('first words on host b'));
    await historyMatches();
    // The source is gone for good: the history stays whole from S3 and the destination.
    await kill(agentA);
    agentA = undefined;
    await historyMatches();
    // The Nova window after the migration holds the source's last words (Nova's would be empty).
    expect(await novaOutput(null)).toBe(novaConsoleOutput(written.subarray(Math.max(0, written.length - 102_400)), null));
    expect(await novaOutput(null)).toContain('== last words on host a ==');
  });

  it('lists the consoles a server has, with the history offset', async () => {
    const res = await invoke(handlers.consoles, { method: 'GET', path: CONSOLES.replace('{server_id}', serverId), headers: token, pathParameters: { server_id: serverId } });
    expect(api.check('GET', CONSOLES, res.status, res.json)).toEqual([]);
    expect(res.json).toEqual({ consoles: [{ port: 0, name: null, history: true, next: written.length }], incomplete: false });
  });

  it('answers application/octet-stream with the bytes themselves and the offsets in headers', async () => {
    const raw = await handlers.console(httpEvent({ method: 'GET', path: CONSOLE.replace('{server_id}', serverId), headers: { ...token, Accept: 'application/octet-stream' }, pathParameters: { server_id: serverId }, query: { since: '5', limit: '100' } }), lambdaContext()) as HttpResult;
    const headers = Object.fromEntries(Object.entries(raw.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    expect(raw.statusCode).toBe(200);
    expect(headers['content-type']).toBe('application/octet-stream');
    expect(raw.isBase64Encoded).toBe(true);
    expect(Buffer.from(raw.body!, 'base64')).toEqual(written.subarray(5, 105));
    expect(headers).toMatchObject({ 'x-console-offset': '5', 'x-console-next': '105', 'x-console-start': '0', 'x-console-end': String(written.length) });
  });

  it.each([
    [{ since: '-1' }, 400, 'BadRequest'],
    [{ since: 'abc' }, 400, 'BadRequest'],
    [{ since: '1e3' }, 400, 'BadRequest'],
    [{ since: '99999999999999999' }, 400, 'BadRequest'],
    [{ limit: '0' }, 400, 'BadRequest'],
    [{ limit: '1048577' }, 400, 'BadRequest'],
    [{ port: '32' }, 400, 'BadRequest'],
    [{ port: 'x' }, 400, 'BadRequest'],
    [{ format: 'ascii' }, 400, 'BadRequest'],
    [{ wait: '21' }, 400, 'BadRequest'],
    [{ port: '3' }, 404, 'NoConsole'],
  ])('refuses %j with %i %s', async (query, status, code) => {
    const res = await get(query);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
  });

  it('answers an offset past the end 416 OffsetOutOfRange, and the end itself with no bytes', async () => {
    const past = await get({ since: String(written.length + 1) });
    expect(past.status, JSON.stringify(past.json)).toBe(416);
    expect(past.json.error.code).toBe('OffsetOutOfRange');
    const atEnd = await get({ since: String(written.length), format: 'raw' });
    expect(atEnd.json).toMatchObject({ offset: written.length, next: written.length, end: written.length, bytes: 0 });
  });

  it('is tenant-scoped: another project\'s server is 404 ServerNotFound, as an unknown one', async () => {
    for (const [headers, id] of [[{ 'X-Auth-Token': 'mallory:p2' }, serverId], [token, randomUUID()]] as const) {
      const res = await get({}, headers, id);
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe('ServerNotFound');
      expect(JSON.stringify(res.json)).not.toContain('hist-');
    }
  });

  it('does not read past what one answer may hold: limit pages through large histories', async () => {
    const first = await get({ since: '0', limit: '1000', format: 'raw' });
    expect(first.json).toMatchObject({ offset: 0, next: 1000, bytes: 1000 });
    expect(Buffer.from(first.json.data, 'base64')).toEqual(written.subarray(0, 1000));
    expect((await readFile(logOf(dirB))).length).toBeLessThan(written.length);
  });
});
