import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

/**
 * Console history in S3 (README, "Console history"). Each console of a server (its serial port) is
 * one byte sequence whose offsets only grow, across rotations, reboots and hosts. It is stored as
 * segments named by the offsets they hold:
 *
 *   history/<server id>/<port>/<16-digit start>-<16-digit end>   bytes [start, end), exactly as written
 *   history/<server id>/<port>/head.json                          where the sequence goes on (HistoryHead)
 *
 * Keys sort by start, so the segment holding an offset is found with one listing from a bounded
 * distance before it (no segment is longer than MAX_SEGMENT_BYTES). A segment shipped twice has the
 * same name and bytes: harmless. Overlapping segments (an agent that shipped again after a crash
 * between the segment and the head) hold the same bytes where they overlap; readers take each byte
 * from any segment that has it.
 */
export const MAX_SEGMENT_BYTES = 1024 * 1024;
const DIGITS = 16;

/** The head of one console's sequence: the next offset, and where on which host its last shipped byte came from. */
export const HistoryHead = z.object({
  v: z.literal(1),
  next: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  host: z.string().max(60),
  /** The file (dev:ino on `host`) and the position in it right after the last shipped byte: where a restarted agent resumes. */
  file: z.object({ key: z.string().max(64), position: z.number().int().min(0) }).nullable(),
  at: z.number().int(),
});
export type HistoryHead = z.infer<typeof HistoryHead>;

export interface SegmentRef {
  start: number;
  end: number;
  key: string;
}

export const consolePrefix = (serverId: string, port: number) => `history/${serverId.toLowerCase()}/${port}/`;
const pad = (n: number) => String(n).padStart(DIGITS, '0');
export const segmentKey = (serverId: string, port: number, start: number, end: number) => `${consolePrefix(serverId, port)}${pad(start)}-${pad(end)}`;
const SEGMENT_NAME = /^(\d{16})-(\d{16})$/;

export function parseSegmentKey(prefix: string, key: string): SegmentRef | undefined {
  const match = SEGMENT_NAME.exec(key.slice(prefix.length));
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  return end > start ? { start, end, key } : undefined;
}

/** The S3 side of history, for the agents (ship) and the edge (read). Every failure is the SDK's: callers decide what "S3 down" means for them. */
export class HistoryStore {
  readonly bucket: string;
  readonly #s3: S3Client;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.bucket = bucket;
  }

  async putSegment(serverId: string, port: number, start: number, bytes: Buffer, signal?: AbortSignal): Promise<string> {
    if (bytes.length === 0 || bytes.length > MAX_SEGMENT_BYTES) throw new RangeError(`a segment holds 1 to ${MAX_SEGMENT_BYTES} bytes, got ${bytes.length}`);
    const key = segmentKey(serverId, port, start, start + bytes.length);
    await this.#s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: 'application/octet-stream' }), { abortSignal: signal });
    return key;
  }

  async getHead(serverId: string, port: number, signal?: AbortSignal): Promise<HistoryHead | undefined> {
    const body = await this.#get(`${consolePrefix(serverId, port)}head.json`, signal);
    if (body === undefined) return undefined;
    const parsed = HistoryHead.safeParse(JSON.parse(body.toString('utf8')));
    // A head nobody can read is no head: the sequence goes on from the segments' end (nextFromSegments).
    return parsed.success ? parsed.data : undefined;
  }

  async putHead(serverId: string, port: number, head: HistoryHead, signal?: AbortSignal): Promise<void> {
    await this.#s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${consolePrefix(serverId, port)}head.json`, Body: JSON.stringify(head), ContentType: 'application/json' }), { abortSignal: signal });
  }

  /**
   * Segments that may hold bytes of [from, to), by start; at most `maxKeys` looked at. Starts from
   * one segment's length before `from`, so the segment holding `from` is among them.
   */
  async listSegments(serverId: string, port: number, from: number, to: number, signal?: AbortSignal, maxKeys = 1000): Promise<SegmentRef[]> {
    const prefix = consolePrefix(serverId, port);
    const after = from > MAX_SEGMENT_BYTES ? `${prefix}${pad(from - MAX_SEGMENT_BYTES - 1)}` : undefined;
    const found: SegmentRef[] = [];
    let token: string | undefined;
    do {
      const page = await this.#s3.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: prefix, MaxKeys: maxKeys, ...(token ? { ContinuationToken: token } : after ? { StartAfter: after } : {}),
      }), { abortSignal: signal });
      for (const object of page.Contents ?? []) {
        const ref = object.Key === undefined ? undefined : parseSegmentKey(prefix, object.Key);
        if (!ref) continue;
        if (ref.start >= to) return found;
        if (ref.end > from) found.push(ref);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  /** The ports S3 has history of for a server. */
  async listPorts(serverId: string, signal?: AbortSignal): Promise<number[]> {
    const prefix = `history/${serverId.toLowerCase()}/`;
    const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', MaxKeys: 64 }), { abortSignal: signal });
    return (page.CommonPrefixes ?? []).map((p) => Number(/\/(\d{1,2})\/$/.exec(p.Prefix ?? '')?.[1])).filter((n) => Number.isInteger(n));
  }

  /** The oldest offset S3 still has (retention deletes old segments), or undefined when it has none. */
  async oldestOffset(serverId: string, port: number, signal?: AbortSignal): Promise<number | undefined> {
    const prefix = consolePrefix(serverId, port);
    const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 2 }), { abortSignal: signal });
    for (const object of page.Contents ?? []) {
      const ref = object.Key === undefined ? undefined : parseSegmentKey(prefix, object.Key);
      if (ref) return ref.start;
    }
    return undefined;
  }

  /** Bytes [from, to) of one segment (a ranged GET). */
  async readSegment(ref: SegmentRef, from: number, to: number, signal?: AbortSignal): Promise<Buffer> {
    const first = Math.max(from, ref.start) - ref.start;
    const last = Math.min(to, ref.end) - ref.start - 1;
    if (last < first) return Buffer.alloc(0);
    const body = await this.#get(ref.key, signal, `bytes=${first}-${last}`);
    if (body === undefined) throw new Error(`segment ${ref.key} is gone`);
    return body;
  }

  async #get(key: string, signal?: AbortSignal, range?: string): Promise<Buffer | undefined> {
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range && { Range: range }) }), { abortSignal: signal });
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
      throw err;
    }
  }
}

/** Reads [from, to) from the segments listed, in order; stops at the first byte no segment holds. */
export async function readSegments(store: HistoryStore, segments: readonly SegmentRef[], from: number, to: number, signal?: AbortSignal): Promise<Buffer> {
  const parts: Buffer[] = [];
  let at = from;
  for (const ref of [...segments].sort((a, b) => a.start - b.start || b.end - a.end)) {
    if (at >= to) break;
    if (ref.end <= at) continue;
    if (ref.start > at) break;
    const bytes = await store.readSegment(ref, at, to, signal);
    parts.push(bytes);
    at += bytes.length;
  }
  return Buffer.concat(parts);
}
