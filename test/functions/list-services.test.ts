import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/list-services.ts';
import { serviceIntegerId, serviceUuid, serviceView } from '../../lib/nova-api/service-view.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { startLocalAws, type LocalAws } from '../helpers/aws-local.ts';
import { invoke } from '../helpers/http-event.ts';

let aws: LocalAws;
let handler: ReturnType<typeof createHandler>;
const now = Date.now();
const beat = { hypervisor: 'files', heartbeatIntervalMs: 30_000, agentVersion: '0.1.0' } as const;

beforeAll(async () => {
  aws = await startLocalAws();
  handler = createHandler(edgeDependencies(aws.env));
  const queueUrl = (host: string) => `http://sqs.us-east-1.127.0.0.1:1/000000000000/q-${host}`;
  await aws.directory.putHost({ ...beat, host: 'c-up', queueUrl: queueUrl('c-up'), heartbeatAt: now - 1_000 });
  await aws.directory.putHost({ ...beat, host: 'c-crashed', queueUrl: queueUrl('c-crashed'), heartbeatAt: now - 10 * 60_000 });
  await aws.directory.putHost({
    ...beat, host: 'c-stopped', queueUrl: queueUrl('c-stopped'), heartbeatAt: now - 5_000,
    maintenance: { since: Date.UTC(2026, 10, 30, 8, 0, 0, 123), reason: 'maintenance: agent stopped' },
  });
});
afterAll(async () => {
  await aws?.stop();
});

const list = (token: string, query?: Record<string, string>, headers: Record<string, string> = {}) =>
  invoke(handler, { path: '/v2.1/os-services', headers: { 'x-auth-token': token, ...headers }, ...(query ? { query } : {}) });

describe('GET /v2.1/os-services', () => {
  it('lists one nova-compute per host for admins, state from the heartbeat, disabled while stopped', async () => {
    const res = await list('admin');
    expect(res.status).toBe(200);
    expect(res.headers['openstack-api-version']).toBe('compute 2.1');
    expect(res.json.services).toEqual([
      {
        id: serviceIntegerId('c-crashed'), binary: 'nova-compute', host: 'c-crashed', zone: 'nova',
        status: 'enabled', state: 'down', updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/), disabled_reason: null,
      },
      {
        id: serviceIntegerId('c-stopped'), binary: 'nova-compute', host: 'c-stopped', zone: 'nova',
        status: 'disabled', state: 'down', updated_at: '2026-11-30T08:00:00.123000', disabled_reason: 'maintenance: agent stopped',
      },
      {
        id: serviceIntegerId('c-up'), binary: 'nova-compute', host: 'c-up', zone: 'nova',
        status: 'enabled', state: 'up', updated_at: new Date(now - 1_000).toISOString().replace('Z', '000'), disabled_reason: null,
      },
    ]);
  });

  it('refuses non-admins with Nova\'s policy fault (403 forbidden)', async () => {
    const res = await list('alice:proj-a');
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ forbidden: { code: 403, message: "Policy doesn't allow os_compute_api:os-services:list to be performed." } });
  });

  it('filters by host and binary exactly, as Nova', async () => {
    expect((await list('admin', { host: 'c-up' })).json.services.map((s: { host: string }) => s.host)).toEqual(['c-up']);
    expect((await list('admin', { host: 'c-u' })).json.services).toEqual([]);
    expect((await list('admin', { binary: 'nova-compute', host: 'c-crashed' })).json.services.map((s: { host: string }) => s.host)).toEqual(['c-crashed']);
    expect((await list('admin', { binary: 'nova-scheduler' })).json.services).toEqual([]);
  });

  it('answers microversion 2.2 like 2.1 and refuses what is not advertised (406)', async () => {
    const res = await list('admin', { host: 'c-up' }, { 'openstack-api-version': 'compute 2.2' });
    expect(res.status).toBe(200);
    expect(res.json.services[0]).not.toHaveProperty('forced_down');
    expect((await list('admin', undefined, { 'openstack-api-version': 'compute 2.53' })).status).toBe(406);
  });

  it('skips a corrupt host record instead of failing the list', async () => {
    const { PutCommand } = await import('@aws-sdk/lib-dynamodb');
    await aws.ddb.send(new PutCommand({ TableName: aws.env.VMCONSOLE_TABLE!, Item: { pk: 'host#c-broken', hostName: 'c-broken', queueUrl: 'nope' } }));
    const res = await list('admin');
    expect(res.status).toBe(200);
    expect(res.json.services.map((s: { host: string }) => s.host)).toEqual(['c-crashed', 'c-stopped', 'c-up']);
  });
});

describe('the os-services view by microversion', () => {
  const service = { host: 'c-1', binary: 'nova-compute', down: false, disabledReason: undefined, updatedAt: 0, agentVersion: '0.1.0' } as const;

  it('adds forced_down from 2.11 and uses a UUID id from 2.53, stable per host name', () => {
    expect(serviceView(service, { major: 2, minor: 10 })).not.toHaveProperty('forced_down');
    expect(serviceView(service, { major: 2, minor: 11 })).toMatchObject({ forced_down: false, id: serviceIntegerId('c-1') });
    const v253 = serviceView(service, { major: 2, minor: 53 });
    expect(v253.id).toBe(serviceUuid('c-1'));
    expect(v253.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(serviceUuid('c-2')).not.toBe(serviceUuid('c-1'));
    expect(Number.isSafeInteger(serviceIntegerId('c-1'))).toBe(true);
  });
});
