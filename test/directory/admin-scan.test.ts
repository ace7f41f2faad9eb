import { randomUUID } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, expect, it } from 'vitest';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

const aws = useLocalAws();
let directory: Directory;
const logger = recordingLogger();

const server = (name: string, projectId: string, host = 'scan-host'): ServerRecord => ({
  id: randomUUID(), name, projectId, userId: `${projectId}-user`, host, hypervisor: 'files', state: 'active', instanceName: `instance-${name}`, updatedAt: 1_700_000_000_000,
});

const fleet = [
  server('web-1', 'p-one'), server('web-2', 'p-two'), server('db-1', 'p-one'), server('a'.repeat(30), 'p-three'), server(`${'a'.repeat(30)}!`, 'p-two'),
];
const badId = randomUUID();

beforeAll(async () => {
  directory = new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!, { logger });
  await directory.putServers(fleet);
  await directory.putHost({ host: 'scan-host', queueUrl: 'http://127.0.0.1:1/000000000000/vmconsole-test-host-scan-host', hypervisor: 'files', heartbeatAt: 1, heartbeatIntervalMs: 10_000, agentVersion: 'test' });
  // A corrupt server item on the same host, as a buggy or foreign writer might leave it.
  await aws.ddb.send(new PutCommand({ TableName: aws.env.VMCONSOLE_TABLE!, Item: { pk: `server#${badId}`, id: badId, name: 'web-bad', projectId: 'p-one', host: 'scan-host', state: 'on fire' } }));
});

const names = (servers: ServerRecord[]) => servers.map((s) => s.name).sort();

it('lets an admin scan every project, with Nova\'s regex name filter, skipping host and invalid items', async () => {
  expect(names(await directory.findServers({}))).toEqual(names(fleet));
  expect(names(await directory.findServers({ name: '^web-' }))).toEqual(['web-1', 'web-2']);
  expect(names(await directory.findServers({ name: '1$' }))).toEqual(['db-1', 'web-1']);
  expect(names(await directory.findServers({ name: 'no-such' }))).toEqual([]);
  expect(logger.entries.some((e) => e.level === 'warn' && e.data.pk === `server#${badId}`)).toBe(true);
});

it('falls back to a literal match for a catastrophic pattern on an admin scan, promptly', async () => {
  const started = performance.now();
  expect(await directory.findServers({ name: '(a+)+$' })).toEqual([]);
  expect(performance.now() - started).toBeLessThan(1_000);
  // Literal means literal: a server named exactly like the pattern is found.
  const literal = server('(a+)+$', 'p-one');
  await directory.putServers([literal]);
  expect((await directory.findServers({ name: '(a+)+$' })).map((s) => s.id)).toEqual([literal.id]);
});

it('keeps invalid items out of a host\'s reconciliation list too', async () => {
  const onHost = await directory.serversOnHost('scan-host');
  expect(onHost.map((s) => s.id)).not.toContain(badId);
  expect(onHost.length).toBeGreaterThanOrEqual(fleet.length);
});
