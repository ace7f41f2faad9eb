import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createHandler as listHandler } from '../../functions/list-diagnoses.ts';
import { createHandler as diagnoseHandler } from '../../functions/request-diagnosis.ts';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import type { DiagnosisRecord } from '../../lib/diagnostics-service/diagnosis-record.ts';
import { DiagnosesStore } from '../../lib/diagnostics-service/diagnoses-store.ts';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { createApiDependencies } from '../../lib/vmconsole-api/wiring.ts';
import { invoke, type HttpEventOptions } from '../helpers/http-event.ts';
import { drain, useDiagnosesRig } from '../helpers/diagnoses-fixture.ts';
import { loadOpenApi, type OpenApi } from '../helpers/openapi.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

const [web1, db1, , opsBastion] = DEMO_SERVERS;
const LIST = '/vmconsole/v1/servers/{server_id}/diagnoses';
const DIAGNOSE = '/vmconsole/v1/servers/{server_id}/diagnose';
const demo = { 'X-Auth-Token': 'demo:demo' };

describe('/vmconsole/v1: diagnoses of a server, tenant-scoped, as docs/openapi.yaml says', () => {
  const rig = useDiagnosesRig();
  let api: OpenApi;
  let handlers: { list: ReturnType<typeof listHandler>; diagnose: ReturnType<typeof diagnoseHandler> };
  let store: DiagnosesStore;

  beforeAll(async () => {
    api = await loadOpenApi();
    const deps = createApiDependencies({ ...rig.env, VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_RATE_PROJECT_PER_S: '0', VMCONSOLE_RATE_API_PER_S: '0' }, { edge: { logger: recordingLogger() } });
    handlers = { list: listHandler(deps), diagnose: diagnoseHandler(deps) };
    store = new DiagnosesStore(createDocumentClient(rig.env), rig.resources.tableName, { retentionDays: 30 });
  });

  /** Call a route as API Gateway would, and check the answer against the document. */
  async function call(method: 'GET' | 'POST', template: string, serverId: string, options: Partial<HttpEventOptions> = {}) {
    const path = template.replace('{server_id}', encodeURIComponent(serverId));
    const handler = method === 'GET' ? handlers.list : handlers.diagnose;
    const res = await invoke(handler, { method, path, headers: demo, pathParameters: { server_id: serverId }, ...options });
    expect(res.headers['content-type']).toBe('application/json');
    expect(api.check(method, template, res.status, res.json)).toEqual([]);
    return res;
  }

  it('the document parses and has every /vmconsole/v1 route serverless.yml declares, and no other', async () => {
    const declared = [...(await readFile(new URL('../../serverless.yml', import.meta.url), 'utf8')).matchAll(/httpApi: '(\w+) (\/vmconsole\/v1\/[^']+)'/g)]
      .map(([, method, path]) => `${method} ${path}`);
    expect(declared.length).toBeGreaterThan(0);
    expect(api.operations().sort()).toEqual(declared.sort());
  });

  it('POST diagnose: 201 with a new diagnosis of the panic, published; asked again, 200 with the same one', async () => {
    const queue = await rig.subscribe({ serverId: [web1.id] });
    const first = await call('POST', DIAGNOSE, web1.id);
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ created: true, diagnosis: { serverId: web1.id, published: true, trigger: { source: 'api' }, diagnosis: { category: 'kernel-panic' } } });
    const again = await call('POST', DIAGNOSE, web1.id);
    expect(again.status).toBe(200);
    expect(again.json.diagnosis.id).toBe(first.json.diagnosis.id);
    expect((await drain(rig.agent.aws.sqs, queue, { atLeast: 1 })).map((m) => m.body.id)).toEqual([first.json.diagnosis.id]);
  });

  it('GET diagnoses: newest first, a page at a time with limit and nextMarker, to the end', async () => {
    // History as it accumulates over crashes: stored straight into the table, a minute apart.
    const template = (await call('GET', LIST, web1.id)).json.diagnoses[0] as DiagnosisRecord;
    const base = Date.now() - 3_600_000;
    for (let i = 0; i < 5; i++) {
      const createdAt = new Date(base + i * 60_000).toISOString();
      await store.claim({ ...template, id: randomUUID(), createdAt, crash: { boot: `b${i}`, signature: 's' } }, `history-${i}`);
    }
    const seen: DiagnosisRecord[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const res = await call('GET', LIST, web1.id, { query: { limit: '2', ...(marker && { marker }) } });
      expect(res.status).toBe(200);
      expect(res.json.diagnoses.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.diagnoses);
      marker = res.json.nextMarker;
      pages += 1;
    } while (marker !== undefined && pages < 10);
    expect(seen).toHaveLength(6);
    const times = seen.map((d) => d.createdAt);
    expect(times).toEqual([...times].sort().reverse());
    expect(seen[0]!.id).toBe(template.id);
  });

  it('another project\'s server, an unknown server and a malformed id: the same 404 ServerNotFound', async () => {
    for (const id of [opsBastion.id, randomUUID(), '..%2Fetc', 'not-a-uuid']) {
      for (const [method, template] of [['GET', LIST], ['POST', DIAGNOSE]] as const) {
        const res = await call(method, template, id);
        expect(res.status).toBe(404);
        expect(res.json.error).toMatchObject({ code: 'ServerNotFound' });
        expect(res.json.error.requestId).toBe(res.headers['x-request-id']);
      }
    }
    // An admin sees every project's servers, as in the Nova API.
    const admin = await call('GET', LIST, opsBastion.id, { headers: { 'X-Auth-Token': 'admin:admin' } });
    expect(admin.status).toBe(200);
  });

  it('bad limits and markers: 400 BadRequest; no token: 401 Unauthorized', async () => {
    for (const limit of ['0', '101', '-1', '1.5', 'ten', '']) {
      const res = await call('GET', LIST, web1.id, { query: { limit } });
      expect(res.status, `limit=${limit}`).toBe(400);
      expect(res.json.error.code).toBe('BadRequest');
    }
    for (const marker of ['garbage', Buffer.from('k#abc').toString('base64url'), Buffer.from('d#../../x').toString('base64url'), 'x'.repeat(300)]) {
      const res = await call('GET', LIST, web1.id, { query: { marker } });
      expect(res.status, `marker=${marker}`).toBe(400);
      expect(res.json.error.code).toBe('BadRequest');
    }
    const anonymous = await call('GET', LIST, web1.id, { headers: {} });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error.code).toBe('Unauthorized');
  });

  it('POST diagnose on a server whose host is registered but silent: 504 HostTimeout in the API\'s error format, nothing stored', async () => {
    const deps = createApiDependencies({ ...rig.env, VMCONSOLE_AUTH_MODE: 'noauth', VMCONSOLE_REPLY_TIMEOUT_MS: '500' }, { edge: { logger: recordingLogger() } });
    const { aws } = rig.agent;
    // A server on a host that registered (a queue of its own, heartbeating) and never answers.
    const real = (await aws.directory.getHost(rig.agent.host))!;
    const { QueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: `${rig.env.VMCONSOLE_HOST_QUEUE_PREFIX}silent-host` }));
    await aws.directory.putHost({ ...real, host: 'silent-host', queueUrl: QueueUrl!, heartbeatAt: Date.now() });
    const server = { ...(await aws.directory.getServer(db1.id))!, id: randomUUID(), host: 'silent-host', name: 'silent' };
    await aws.directory.putServers([server]);
    const res = await invoke(diagnoseHandler(deps), { method: 'POST', path: `/vmconsole/v1/servers/${server.id}/diagnose`, headers: demo, pathParameters: { server_id: server.id } });
    expect(res.status, JSON.stringify(res.json)).toBe(504);
    expect(res.json.error.code).toBe('HostTimeout');
    expect(api.check('POST', DIAGNOSE, res.status, res.json)).toEqual([]);
    expect((await store.list(server.id, { limit: 5 })).records).toEqual([]);
  });
});
