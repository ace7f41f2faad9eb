import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { handler as listHandler } from '../../functions/list-diagnoses.ts';
import { awsClientOptions } from '../../lib/aws-client-options.ts';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { diagnoseConsole } from '../../lib/diagnostics/diagnose-console.ts';
import { readDiagnosticsConfig } from '../../lib/diagnostics-service/config.ts';
import type { DiagnosisRecord } from '../../lib/diagnostics-service/diagnosis-record.ts';
import { ensureDiagnosesTable } from '../../lib/diagnostics-service/diagnoses-table.ts';
import { DiagnosesStore } from '../../lib/diagnostics-service/diagnoses-store.ts';
import { invoke } from '../helpers/http-event.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

const DAY = 86_400_000;

describe('the diagnoses table: TTL checked on read (dynalite, like DynamoDB for days, never deletes)', () => {
  const aws = useLocalAws();
  const table = `vmconsole-t${randomUUID().slice(0, 6)}-diagnoses`;
  beforeAll(async () => {
    const client = new DynamoDBClient(awsClientOptions(aws.dynamodbEndpoint, aws.env));
    await ensureDiagnosesTable(client, table);
    client.destroy();
  });

  const record = (serverId: string, createdAt: number): DiagnosisRecord => ({
    v: 1, id: randomUUID(), serverId, projectId: 'demo', serverName: 's', createdAt: new Date(createdAt).toISOString(),
    crash: { boot: 'b', signature: 's' }, trigger: { source: 't', reason: 'r', at: createdAt }, published: true,
    diagnosis: diagnoseConsole('[    1.0] Kernel panic - not syncing: test\n'),
  });

  it('expired diagnoses are not listed, and an expired crash may be diagnosed again', async () => {
    let now = Date.now();
    const store = new DiagnosesStore(createDocumentClient(aws.env), table, { retentionDays: 30, now: () => now });
    const serverId = randomUUID();
    const old = record(serverId, now - 40 * DAY);
    const recent = record(serverId, now - DAY);
    expect((await store.claim(old, 'crash-a')).created).toBe(true);
    expect((await store.claim(recent, 'crash-b')).created).toBe(true);
    expect((await store.list(serverId, { limit: 10 })).records.map((r) => r.id)).toEqual([recent.id]);
    // crash-a's dedupe item expired with its diagnosis: the same crash seen now is a new diagnosis.
    const again = record(serverId, now);
    expect(await store.claim(again, 'crash-a')).toMatchObject({ created: true, record: { id: again.id } });
    expect((await store.claim(record(serverId, now), 'crash-b')).record.id).toBe(recent.id);
    now += 29.5 * DAY; // recent (created a day before) has expired, again (created now) has not
    expect((await store.list(serverId, { limit: 10 })).records.map((r) => r.id)).toEqual([again.id]);
  });
});

describe('configuration', () => {
  it('needs the table and topic; SNS defaults to the SQS endpoint (fauxqs serves both)', () => {
    expect(() => readDiagnosticsConfig({})).toThrow(/VMCONSOLE_DIAGNOSES_TABLE is required.*VMCONSOLE_DIAGNOSES_TOPIC_ARN must be an SNS topic ARN/);
    const env = { VMCONSOLE_DIAGNOSES_TABLE: 'vmconsole-prod-diagnoses', VMCONSOLE_DIAGNOSES_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:vmconsole-prod-diagnoses', VMCONSOLE_DIAGNOSES_RETENTION_DAYS: '' };
    expect(readDiagnosticsConfig(env)).toEqual({ tableName: 'vmconsole-prod-diagnoses', topicArn: env.VMCONSOLE_DIAGNOSES_TOPIC_ARN, retentionDays: 30, snsEndpoint: undefined });
    expect(readDiagnosticsConfig({ ...env, VMCONSOLE_SQS_ENDPOINT: 'http://127.0.0.1:1' }).snsEndpoint).toBe('http://127.0.0.1:1');
    expect(() => readDiagnosticsConfig({ ...env, VMCONSOLE_DIAGNOSES_RETENTION_DAYS: '0' })).toThrow(/RETENTION_DAYS/);
  });

  it('a /vmconsole/v1 function whose configuration is bad answers 500 in the API\'s error format with a request id', async () => {
    expect(process.env.VMCONSOLE_TABLE).toBeUndefined();
    const res = await invoke(listHandler, { method: 'GET', path: '/vmconsole/v1/servers/3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01/diagnoses', headers: { 'x-auth-token': 'demo:demo' }, pathParameters: { server_id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01' } });
    expect(res.status).toBe(500);
    const requestId = res.headers['x-request-id'];
    expect(res.json).toEqual({ error: { code: 'Internal', message: `Unexpected error. The request ${requestId} failed; the operator log has the details.`, requestId } });
    expect(res.raw.body).not.toContain('VMCONSOLE');
  });
});
