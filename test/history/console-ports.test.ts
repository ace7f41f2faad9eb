/**
 * Several serial ports end to end: a real agent process (files driver: console.log is port 0,
 * console-<n>.log port n) ships every port's history to S3 (fauxqs), and the real GET .../console
 * and .../consoles handlers read and list each port by itself. Port 0 stays what the Nova API reads.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as consoleHandler } from '../../functions/read-console.ts';
import { createHandler as consolesHandler } from '../../functions/list-consoles.ts';
import { createHandler as serverActionHandler } from '../../functions/server-action.ts';
import { HistoryStore, readSegments } from '../../lib/history/history-store.ts';
import { createHistoryS3Client, ensureHistoryBucket } from '../../lib/history/s3-client.ts';
import { createApiDependencies } from '../../lib/vmconsole-api/wiring.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { kill, startAgentProcess } from '../helpers/agent-process.ts';
import { invoke } from '../helpers/http-event.ts';
import { novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { loadOpenApi, type OpenApi } from '../helpers/openapi.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { waitFor } from '../helpers/wait.ts';

const CONSOLE = '/vmconsole/v1/servers/{server_id}/console';
const CONSOLES = '/vmconsole/v1/servers/{server_id}/consoles';
const BUCKET = 'vmconsole-test-ports';
const token = { 'X-Auth-Token': 'alice:p1' };

/** Binary output unlike any other port's: every byte value, invalid UTF-8, escapes. */
function portBytes(label: string): Buffer {
  return Buffer.concat([Buffer.from(`\r\n== ${label} ==\r\n`), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d]), randomBytes(2000), Buffer.from(' é€😀\n')]);
}

describe('console history of several serial ports', () => {
  const aws = useLocalAws();
  let work: string;
  let agent: ChildProcess | undefined;
  let api: OpenApi;
  let store: HistoryStore;
  let handlers: { console: ReturnType<typeof consoleHandler>; consoles: ReturnType<typeof consolesHandler>; nova: ReturnType<typeof serverActionHandler> };
  let novaDeps: ReturnType<typeof edgeDependencies>;
  const serverId = randomUUID();
  /** What each port's log got, in order. */
  const written = new Map<number, Buffer>();
  const logOf = (port: number) => join(work, serverId, port === 0 ? 'console.log' : `console-${port}.log`);

  async function write(port: number, bytes: Buffer): Promise<void> {
    await appendFile(logOf(port), bytes);
    written.set(port, Buffer.concat([written.get(port) ?? Buffer.alloc(0), bytes]));
  }

  async function get(query: Record<string, string>) {
    const res = await invoke(handlers.console, { method: 'GET', path: CONSOLE.replace('{server_id}', serverId), headers: token, pathParameters: { server_id: serverId }, query });
    expect(api.check('GET', CONSOLE, res.status, res.json)).toEqual([]);
    return res;
  }

  async function consoles() {
    const res = await invoke(handlers.consoles, { method: 'GET', path: CONSOLES.replace('{server_id}', serverId), headers: token, pathParameters: { server_id: serverId } });
    expect(api.check('GET', CONSOLES, res.status, res.json)).toEqual([]);
    return res;
  }

  /** One port's whole history through the API, page by page (format=raw). */
  async function readPort(port: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let since = 0;
    for (let page = 0; page < 1000; page++) {
      const res = await get({ port: String(port), since: String(since), limit: '1500', format: 'raw' });
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(res.json.port).toBe(port);
      expect(res.json.incomplete ?? false).toBe(false);
      parts.push(Buffer.from(res.json.data, 'base64'));
      since = res.json.next;
      if (since >= res.json.end) break;
    }
    return Buffer.concat(parts);
  }

  const portMatches = (port: number) =>
    waitFor(async () => (await readPort(port)).equals(written.get(port)!), 20_000, `port ${port} through the API to equal what was written to it`);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'vmconsole-ports-'));
    await mkdir(join(work, serverId), { recursive: true });
    await writeFile(join(work, serverId, 'instance.json'), JSON.stringify({ name: 'ports-1', projectId: 'p1', userId: 'alice' }));
    await write(0, portBytes('port 0 before the agent'));
    await write(1, portBytes('port 1 before the agent'));
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
    agent = await startAgentProcess(
      { ...aws.env, VMCONSOLE_HISTORY_BUCKET: BUCKET, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint, VMCONSOLE_HISTORY_SHIP_MS: '1000', POWERTOOLS_LOG_LEVEL: 'INFO' },
      { host: 'ports-a', directory: aws.directory, instancesDir: work, logFile: join(work, 'agent.log'), heartbeatMs: 500 },
    );
  }, 60_000);

  afterAll(async () => {
    novaDeps?.requester.close();
    await kill(agent);
    await rm(work, { recursive: true, force: true });
  });

  it('serves port 1 byte for byte from ?port=1, before and after the agent started, and ships it to S3 under port 1', async () => {
    await portMatches(1);
    await write(1, portBytes('port 1 while followed'));
    await portMatches(1);
    const port1 = written.get(1)!;
    await waitFor(async () => {
      const head = await store.getHead(serverId, 1).catch(() => undefined);
      if (head?.next !== port1.length) return false;
      return (await readSegments(store, await store.listSegments(serverId, 1, 0, port1.length), 0, port1.length)).equals(port1);
    }, 20_000, 'S3 to hold every byte of port 1');
  });

  it('keeps port 0 its own: its bytes only, and the Nova API reads port 0 alone', async () => {
    await write(0, portBytes('port 0 while followed'));
    await portMatches(0);
    expect((await readPort(0)).includes(Buffer.from('== port 1'))).toBe(false);
    const res = await invoke(handlers.nova, { method: 'POST', path: `/v2.1/servers/${serverId}/action`, headers: { 'x-auth-token': 'alice:p1', 'content-type': 'application/json' }, body: { 'os-getConsoleOutput': { length: null } } });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.output).toBe(novaConsoleOutput(written.get(0)!, null));
  });

  it('lists every port with a log at /consoles, a port that appears later too', async () => {
    await waitFor(async () => (await consoles()).json.consoles.every((c: { history: boolean }) => c.history), 10_000, 'both ports followed');
    expect((await consoles()).json).toEqual({
      consoles: [
        { port: 0, name: null, history: true, next: written.get(0)!.length },
        { port: 1, name: null, history: true, next: written.get(1)!.length },
      ],
      incomplete: false,
    });
    await write(3, portBytes('port 3 appears'));
    // The agent names a server's ports at each inventory listing: the new port is followed from its first byte.
    await waitFor(async () => (await consoles()).json.consoles.some((c: { port: number; history: boolean }) => c.port === 3 && c.history), 10_000, 'port 3 followed');
    expect((await consoles()).json.consoles.map((c: { port: number }) => c.port)).toEqual([0, 1, 3]);
    await portMatches(3);
  });

  it('answers a port without a log 404 NoConsole, the ports that have one unaffected', async () => {
    const res = await get({ port: '2', since: '0' });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('NoConsole');
    expect(res.json.error.message).toBe('This server has no console on port 2.');
    expect((await readPort(1)).equals(written.get(1)!)).toBe(true);
  });
});
