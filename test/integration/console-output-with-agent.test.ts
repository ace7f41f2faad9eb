/**
 * The foundation end to end without HTTP: the real edge handler (functions/server-action.ts,
 * built from the test's own environment, process.env untouched) -> fauxqs -> a real agent
 * process (files driver over the demo's real boot logs) -> reply.
 */
import { once } from 'node:events';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/server-action.ts';
import { DEMO_SERVERS, writeDemoInstances } from '../../lib/local/demo-servers.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { invoke } from '../helpers/http-event.ts';
import { consoleWindow, novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';
import { eventually, sleep } from '../helpers/wait.ts';

const HEARTBEAT_MS = 400;
const [web, db, , opsServer] = DEMO_SERVERS;

describe('console output: edge handler -> SQS -> agent process -> reply', () => {
  const agentHost = useAgentOnLocalAws({ host: 'it-host', heartbeatMs: HEARTBEAT_MS, prepareInstances: writeDemoInstances });
  let instancesDir: string;
  let deps: ReturnType<typeof edgeDependencies>;
  let handler: Parameters<typeof invoke>[0];

  const ask = (id: string, body: unknown = { 'os-getConsoleOutput': {} }, token = 'demo:demo') =>
    invoke(handler, { method: 'POST', path: `/v2.1/servers/${id}/action`, headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body });

  beforeAll(() => {
    instancesDir = agentHost.instancesDir;
    deps = edgeDependencies({ ...agentHost.aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '1500' });
    handler = createHandler(deps);
  });

  afterAll(() => deps?.requester.close());

  it('answers exactly what Nova would for every length, on a real boot log', async () => {
    const window = consoleWindow(join(instancesDir, web.id));
    for (const length of [undefined, null, 0, 1, 2, 5, '5', '007', -1, 100000]) {
      const res = await ask(web.id, { 'os-getConsoleOutput': length === undefined ? {} : { length } });
      expect(res.status).toBe(200);
      expect(Object.keys(res.json)).toEqual(['output']);
      expect(res.json.output).toBe(novaConsoleOutput(window, length === undefined || length === null ? null : Number(length)));
    }
    expect((await ask(web.id)).json.output).toMatch(/Linux version[\s\S]*Kernel panic - not syncing/);
  });

  it('reads the last 100 KiB across rotated files, oldest first', async () => {
    const res = await ask(db.id);
    expect(res.status).toBe(200);
    const files = ['console.log.2', 'console.log.1', 'console.log.0', 'console.log'].map((f) => join(instancesDir, db.id, f));
    const all = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
    expect(res.json.output).toBe(novaConsoleOutput(all.subarray(Math.max(0, all.length - 102_400)), null));
  });

  it('keeps tenants apart: another project gets 404, an admin sees everything', async () => {
    const other = await ask(opsServer.id);
    expect(other.status).toBe(404);
    expect(other.json).toEqual({ itemNotFound: { code: 404, message: `Instance ${opsServer.id} could not be found.` } });
    expect((await ask(opsServer.id, undefined, 'admin:admin')).status).toBe(200);
    expect((await ask(opsServer.id, undefined, 'ops:ops')).status).toBe(200);
  });

  it('decodes a binary log with NUL bytes, invalid UTF-8 and no newline at all', async () => {
    const id = '0b5c1d2e-3f40-4a51-8b62-7c83d94ea5f6';
    await mkdir(join(instancesDir, id));
    await writeFile(join(instancesDir, id, 'instance.json'), JSON.stringify({ name: 'binary', projectId: 'demo', userId: 'demo' }));
    const bytes = Buffer.from([0x41, 0x00, 0xff, 0xc3, 0xa9, 0x1b, 0x5b, 0x30, 0x6d, 0x0d, 0x7f, 0x09, 0x42]);
    await writeFile(join(instancesDir, id, 'console.log'), bytes);
    const res = await eventually(() => ask(id), (r) => r.status === 200);
    expect(res.json.output).toBe('A\ufffd\ufffd\ufffd[0m\x7f\tB');
  });

  it('refuses a console.log that points outside the log roots, without naming host paths', async () => {
    const id = '1c6d2e3f-4051-4b62-9c73-8d94ea5fb607';
    await mkdir(join(instancesDir, id));
    await writeFile(join(instancesDir, id, 'instance.json'), JSON.stringify({ name: 'escape', projectId: 'demo', userId: 'demo' }));
    await symlink('/etc/passwd', join(instancesDir, id, 'console.log'));
    const res = await eventually(() => ask(id), (r) => r.status !== 404);
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.json)).not.toContain('root:');
    expect(JSON.stringify(res.json)).not.toContain(instancesDir);
  });

  it('a server without a log yet answers 200 ""; a removed server disappears from the directory', async () => {
    const id = '2d7e3f40-5162-4c73-8d84-9ea5fb60c718';
    await mkdir(join(instancesDir, id));
    expect((await eventually(() => ask(id, undefined, 'admin:admin'), (r) => r.status === 200)).json).toEqual({ output: '' });
    await rm(join(instancesDir, id), { recursive: true });
    expect((await eventually(() => ask(id, undefined, 'admin:admin'), (r) => r.status === 404)).status).toBe(404);
  });

  it('a silent agent gives a 504 that does not name the host; its late reply never reaches a later request', async () => {
    const { agent } = agentHost;
    agent.kill('SIGSTOP');
    try {
      const started = Date.now();
      const res = await ask(web.id, { 'os-getConsoleOutput': { length: 1 } });
      expect(res.status).toBe(504);
      // The wait left for the host when it was asked: the 1.5 s reply timeout less the edge's own
      // work before asking (a directory read or two), which a loaded machine can stretch past 50 ms.
      expect(res.json.computeFault.message).toMatch(/^The compute host of this server did not answer within 1\.[0-5] s\.$/);
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      agent.kill('SIGCONT');
    }
    // The agent now drops the expired request (or its reply arrives late and is discarded). Its
    // heartbeat went stale while it was frozen, so the edge may say 409 until the next beat.
    const next = await eventually(() => ask(web.id, { 'os-getConsoleOutput': { length: 2 } }), (r) => r.status === 200);
    expect(next.status).toBe(200);
    expect(next.json.output).toBe(novaConsoleOutput(consoleWindow(join(instancesDir, web.id)), 2));
  });

  it('a dead host answers 409 at once, and a restarted agent serves again', async () => {
    const { agent } = agentHost;
    agent.kill('SIGKILL');
    await once(agent, 'exit');
    await sleep(3 * HEARTBEAT_MS + 1_200);
    const started = Date.now();
    const res = await ask(web.id);
    expect(res.status).toBe(409);
    expect(res.json.conflictingRequest.message).toBe('The compute host of this server is down.');
    expect(Date.now() - started).toBeLessThan(500);
    await agentHost.restartAgent();
    // The dead agent's last long poll may still swallow one request (SQS cannot tell the client
    // is gone); it comes back after the queue's 5 s visibility timeout. Everything else is served.
    expect((await eventually(() => ask(web.id), (r) => r.status === 200, 15_000)).status).toBe(200);
    expect((await ask(web.id, { 'os-getConsoleOutput': { length: 3 } })).json.output.split('\n')).toHaveLength(3);
  });
});
