/**
 * The deployed registrar (functions/register-inventory.ts) fed a batch shaped as the directory
 * table's stream delivers it (KEYS_ONLY records; the stream itself exists only in AWS), over a
 * real directory (dynalite).
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { expect, it } from 'vitest';
import { createHandler, hostOfKey } from '../../functions/register-inventory.ts';
import { Registrar } from '../../lib/directory/registrar.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

const aws = useLocalAws();

const streamRecord = (pk: string, eventName: 'INSERT' | 'MODIFY' = 'MODIFY') => ({
  eventID: randomUUID(), eventName, eventVersion: '1.1', eventSource: 'aws:dynamodb', awsRegion: 'us-east-1',
  dynamodb: { ApproximateCreationDateTime: 1_800_000_000, Keys: { pk: { S: pk } }, SequenceNumber: '1', SizeBytes: 40, StreamViewType: 'KEYS_ONLY' as const },
  eventSourceARN: 'arn:aws:dynamodb:us-east-1:123456789012:table/vmconsole-t-directory/stream/2026-01-01T00:00:00.000',
});

it('registers each host whose items changed, once per batch, from the record keys', async () => {
  const host = `stream-${randomUUID().slice(0, 8)}`;
  const id = randomUUID();
  await aws.directory.putInventory({ host, hypervisor: 'files', servers: [{ id, name: 'vm', projectId: 'p', userId: 'u', state: 'active', instanceName: id }], updatedAt: 1 });
  const logger = recordingLogger();
  const handle = createHandler(new Registrar(aws.directory, logger), logger);
  const event: DynamoDBStreamEvent = { Records: [streamRecord(`host#${host}`), streamRecord(`inventory#${host}`, 'INSERT')] };
  await handle(event);
  expect(await aws.directory.getServer(id)).toMatchObject({ host, projectId: 'p' });
  expect(logger.entries.filter((e) => e.message === 'inventory registered')).toEqual([expect.objectContaining({ data: { host, present: 1, written: 1, removed: 0, refused: 0 } })]);
});

it('takes the host only from host and inventory keys', () => {
  expect(hostOfKey('host#a-1')).toBe('a-1');
  expect(hostOfKey('inventory#a-1')).toBe('a-1');
  expect(hostOfKey(`server#${randomUUID()}`)).toBeUndefined();
  expect(hostOfKey(undefined)).toBeUndefined();
});
