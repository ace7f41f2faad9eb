/**
 * The S3 side of console history against fauxqs's S3: segments named by offset read back whole
 * whatever order, duplication or overlap they were shipped in, and two hosts shipping one console
 * (a migration's race, or two agents claiming a server) never give one offset two different bytes.
 */
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConsoleHistory, type HistoryEvents } from '../../lib/history/console-history.ts';
import { HistoryStore, readSegments, segmentKey } from '../../lib/history/history-store.ts';
import { createHistoryS3Client, ensureHistoryBucket } from '../../lib/history/s3-client.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

const chunkInfo = (position: number) => ({ offset: 0, file: 'console.log', position, key: '1:1' });

describe('history segments in S3', () => {
  const aws = useLocalAws();
  let store: HistoryStore;

  beforeAll(async () => {
    const s3 = createHistoryS3Client({ ...aws.env, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint });
    await ensureHistoryBucket(s3, 'history-store-test');
    store = new HistoryStore(s3, 'history-store-test');
  });

  it('reads a range back byte for byte from segments shipped out of order, twice, and overlapping', async () => {
    const id = randomUUID();
    const bytes = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 37) % 256));
    await store.putSegment(id, 0, 20, bytes.subarray(20, 40));
    await store.putSegment(id, 0, 0, bytes.subarray(0, 10));
    await store.putSegment(id, 0, 10, bytes.subarray(10, 20));
    await store.putSegment(id, 0, 10, bytes.subarray(10, 20));
    await store.putSegment(id, 0, 5, bytes.subarray(5, 25));
    const segments = await store.listSegments(id, 0, 0, 40);
    expect(await readSegments(store, segments, 0, 40)).toEqual(bytes);
    expect(await readSegments(store, await store.listSegments(id, 0, 7, 33), 7, 33)).toEqual(bytes.subarray(7, 33));
    expect(await store.oldestOffset(id, 0)).toBe(0);
    expect(segments.map((s) => s.key)).toContain(segmentKey(id, 0, 5, 25));
  });

  it('stops at a hole instead of joining across it', async () => {
    const id = randomUUID();
    await store.putSegment(id, 0, 0, Buffer.from('abc'));
    await store.putSegment(id, 0, 10, Buffer.from('xyz'));
    expect((await readSegments(store, await store.listSegments(id, 0, 0, 13), 0, 13)).toString()).toBe('abc');
    expect((await readSegments(store, await store.listSegments(id, 0, 3, 13), 3, 13)).length).toBe(0);
  });

  it('finds the segment holding an offset far into a long history', async () => {
    const id = randomUUID();
    const mib = 1024 * 1024;
    await store.putSegment(id, 0, 5 * mib, Buffer.from('deep'));
    await store.putSegment(id, 0, 5 * mib + 4, Buffer.from('er'));
    expect((await readSegments(store, await store.listSegments(id, 0, 5 * mib + 2, 5 * mib + 6), 5 * mib + 2, 5 * mib + 6)).toString()).toBe('eper');
  });

  it('a destination that started before the source\'s last ship moves its bytes after the source\'s', async () => {
    const id = randomUUID();
    const events: HistoryEvents['rebased'][] = [];
    const source = new ConsoleHistory({ serverId: id, port: 0, host: 'src', head: undefined, store });
    source.chunk(Buffer.from('source boot\n'), chunkInfo(0));
    await source.ship('test');
    // The destination reads the head now; the source still has last words to ship.
    const head = await store.getHead(id, 0);
    const destination = new ConsoleHistory({ serverId: id, port: 0, host: 'dst', head, store, observer: { rebased: (e) => events.push(e) } });
    source.chunk(Buffer.from('source last words\n'), chunkInfo(12));
    await source.ship('migrated-out');
    destination.chunk(Buffer.from('destination boot\n'), chunkInfo(0));
    await destination.ship('test');
    const next = (await store.getHead(id, 0))!.next;
    const all = await readSegments(store, await store.listSegments(id, 0, 0, next), 0, next);
    expect(all.toString()).toBe('source boot\nsource last words\ndestination boot\n');
    expect(events).toEqual([{ serverId: id, port: 0, from: 12, to: 30, otherHost: 'src' }]);
    expect(destination.read(30, 100).data.toString()).toBe('destination boot\n');
    source.dispose();
    destination.dispose();
  });
});
