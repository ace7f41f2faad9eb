import { randomUUID } from 'node:crypto';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HostRecord, ServerRecord } from '../../lib/contracts/records.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { directoryTableDefinition, ensureDirectoryTable } from '../../lib/directory/table.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

const aws = useLocalAws();
let directory: Directory;
const logger = recordingLogger();

const server = (overrides: Partial<ServerRecord> = {}): ServerRecord => ({
  id: randomUUID(),
  name: 'web-1',
  projectId: 'p-alpha',
  userId: 'u-1',
  host: 'host-a',
  hypervisor: 'files',
  state: 'active',
  instanceName: 'instance-0001',
  updatedAt: 1_700_000_000_000,
  ...overrides,
});

const hostRecord = (host: string): HostRecord => ({
  host,
  queueUrl: `http://sqs.us-east-1.127.0.0.1:4566/000000000000/vmconsole-test-host-${host}`,
  hypervisor: 'libvirt',
  heartbeatAt: 1_700_000_000_000,
  heartbeatIntervalMs: 10_000,
  agentVersion: '0.1.0',
});

beforeAll(async () => {
  directory = new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!, { logger });
});

describe('directory table', () => {
  it('is created ACTIVE with the keys serverless.yml declares, and ensuring it again is harmless', async () => {
    const client = new DynamoDBClient({ endpoint: aws.dynamodbEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    await ensureDirectoryTable(client, aws.env.VMCONSOLE_TABLE!);
    const { Table } = await client.send(new DescribeTableCommand({ TableName: aws.env.VMCONSOLE_TABLE! }));
    client.destroy();
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    const indexes = Object.fromEntries((Table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.KeySchema]));
    expect(indexes).toEqual(Object.fromEntries(directoryTableDefinition('x').GlobalSecondaryIndexes!.map((i) => [i.IndexName, i.KeySchema])));
    expect(Object.keys(indexes).sort()).toEqual(['byHost', 'byProject']);
  });
});

describe('servers', () => {
  it('puts and gets a server, whatever the case of its id', async () => {
    const record = server();
    await directory.putServers([record]);
    expect(await directory.getServer(record.id)).toEqual(record);
    expect(await directory.getServer(record.id.toUpperCase())).toEqual(record);
    expect(await directory.getServer(randomUUID())).toBeUndefined();
  });

  it('writes more than one batch (25) and reads them all back per host', async () => {
    const records = Array.from({ length: 60 }, (_, i) => server({ host: 'host-bulk', name: `bulk-${i}`, projectId: 'p-bulk' }));
    await directory.putServers(records);
    const onHost = await directory.serversOnHost('host-bulk');
    expect(onHost.map((s) => s.id).sort()).toEqual(records.map((s) => s.id).sort());
  });

  it('removes a server only while it still names the removing host (migration)', async () => {
    const stays = server({ host: 'host-old' });
    const migrated = server({ host: 'host-old' });
    await directory.putServers([stays, migrated]);
    await directory.putServers([{ ...migrated, host: 'host-new' }]);
    expect(await directory.releaseServer('host-old', stays.id)).toEqual({ released: true });
    expect(await directory.releaseServer('host-old', migrated.id)).toEqual({ released: false });
    expect(await directory.releaseServer('host-old', randomUUID())).toEqual({ released: false });
    expect(await directory.getServer(stays.id)).toBeUndefined();
    expect((await directory.getServer(migrated.id))?.host).toBe('host-new');
  });
});

describe('tenant queries', () => {
  const alpha = [server({ projectId: 't-alpha', name: 'web-1' }), server({ projectId: 't-alpha', name: 'web-2' }), server({ projectId: 't-alpha', name: 'db-1' })];
  const beta = [server({ projectId: 't-beta', name: 'web-1' })];

  beforeAll(async () => {
    await directory.putServers([...alpha, ...beta]);
    await directory.putHost(hostRecord('host-a'));
  });

  it('returns only the project\'s servers', async () => {
    const found = await directory.findServers({ projectId: 't-alpha' });
    expect(found.map((s) => s.id).sort()).toEqual(alpha.map((s) => s.id).sort());
  });

  it('lets admins see every project and never lists host items as servers', async () => {
    const all = await directory.findServers({});
    const ids = new Set(all.map((s) => s.id));
    for (const s of [...alpha, ...beta]) expect(ids.has(s.id)).toBe(true);
    expect(all.every((s) => s.id !== undefined && s.projectId !== undefined)).toBe(true);
    expect(await directory.serversOnHost('host-a')).not.toContainEqual(expect.objectContaining({ queueUrl: expect.anything() }));
  });

  it('matches names as Nova does: a regular expression search', async () => {
    expect((await directory.findServers({ projectId: 't-alpha', name: '^web' })).map((s) => s.name).sort()).toEqual(['web-1', 'web-2']);
    expect((await directory.findServers({ projectId: 't-alpha', name: 'b-1' })).map((s) => s.name).sort()).toEqual(['db-1', 'web-1']);
    expect((await directory.findServers({ projectId: 't-alpha', name: 'web-1' })).map((s) => s.name)).toEqual(['web-1']);
  });

  it('matches an invalid pattern literally instead of failing', async () => {
    const odd = server({ projectId: 't-gamma', name: 'web[1' });
    await directory.putServers([odd, server({ projectId: 't-gamma', name: 'web1' })]);
    expect((await directory.findServers({ projectId: 't-gamma', name: 'web[1' })).map((s) => s.id)).toEqual([odd.id]);
  });

  it('cuts off catastrophic backtracking and falls back to a literal match', async () => {
    await directory.putServers([server({ projectId: 't-redos', name: `${'a'.repeat(40)}!` })]);
    for (const pattern of ['(a+)+$', '(a|a)*$', '(a|aa)+$']) {
      const started = performance.now();
      expect(await directory.findServers({ projectId: 't-redos', name: pattern })).toEqual([]);
      expect(performance.now() - started).toBeLessThan(1_000);
    }
    expect(await directory.findServers({ projectId: 't-redos', name: 'a'.repeat(300) })).toEqual([]);
  });
});

describe('a host\'s servers', () => {
  it('lists only server records naming the host, never the host\'s own item', async () => {
    const mine = [server({ host: 'host-own', name: 'one' }), server({ host: 'host-own', name: 'two' })];
    await directory.putServers([...mine, server({ host: 'host-other' })]);
    await directory.putHost(hostRecord('host-own'));
    const listed = await directory.serversOnHost('host-own');
    expect(listed.map((s) => s.id).sort()).toEqual(mine.map((s) => s.id).sort());
    expect(listed.every((s) => s.host === 'host-own' && !('queueUrl' in s))).toBe(true);
    expect(await directory.serversOnHost('host-nobody')).toEqual([]);
  });
});

describe('hosts', () => {
  it('puts and gets a host record', async () => {
    await directory.putHost(hostRecord('host-h'));
    expect(await directory.getHost('host-h')).toEqual(hostRecord('host-h'));
    expect(await directory.getHost('host-unknown')).toBeUndefined();
  });
});

describe('items that fail the schema', () => {
  it('are skipped and logged, never served', async () => {
    const good = server({ projectId: 't-bad', name: 'good' });
    await directory.putServers([good]);
    const badId = randomUUID();
    await aws.ddb.send(new PutCommand({
      TableName: aws.env.VMCONSOLE_TABLE!,
      Item: { pk: `server#${badId}`, id: badId, projectId: 't-bad', name: 'bad', host: 'host-a', state: 'exploded' },
    }));
    await aws.ddb.send(new PutCommand({ TableName: aws.env.VMCONSOLE_TABLE!, Item: { pk: 'host#broken', hostName: 'broken', queueUrl: 'not a url' } }));
    logger.entries.length = 0;
    expect((await directory.findServers({ projectId: 't-bad' })).map((s) => s.id)).toEqual([good.id]);
    expect(await directory.getServer(badId)).toBeUndefined();
    expect(await directory.getHost('broken')).toBeUndefined();
    expect(logger.entries.filter((e) => e.level === 'warn').map((e) => e.data.pk)).toEqual(expect.arrayContaining([`server#${badId}`, 'host#broken']));
  });
});

describe('failures', () => {
  it('answers TransportUnavailable within two seconds when DynamoDB is out of reach', async () => {
    const doc = createDocumentClient({ ...aws.env, VMCONSOLE_DYNAMODB_ENDPOINT: 'http://127.0.0.1:9' });
    const unreachable = new Directory(doc, aws.env.VMCONSOLE_TABLE!);
    try {
      for (const call of [() => unreachable.getServer(randomUUID()), () => unreachable.findServers({ projectId: 'p' }), () => unreachable.putHost(hostRecord('host-x'))]) {
        const started = Date.now();
        await expect(call()).rejects.toMatchObject({ name: 'VmconsoleError', code: 'TransportUnavailable' });
        expect(Date.now() - started).toBeLessThan(2_000);
      }
    } finally {
      doc.destroy();
    }
  });

  it('leaves a misconfiguration (no such table) as it is, not as an outage', async () => {
    const missing = new Directory(aws.ddb, 'vmconsole-no-such-table');
    const failure = await missing.getServer(randomUUID()).catch((err: unknown) => err);
    expect(failure).toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
