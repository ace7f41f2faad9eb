import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ServerRecord } from '../contracts/records.ts';
import type { Logger } from '../logger.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import type { DiagnosisRecord, ScreenshotRef } from './diagnosis-record.ts';

/** Where screenshots are kept (S3 in AWS and locally, where fauxqs serves S3 too). */
export interface ScreenshotStore {
  readonly bucket: string;
  put(key: string, bytes: Buffer, contentType: string): Promise<void>;
}

export class S3ScreenshotStore implements ScreenshotStore {
  readonly bucket: string;
  readonly #s3: S3Client;

  constructor(s3: S3Client, bucket: string) {
    this.#s3 = s3;
    this.bucket = bucket;
  }

  async put(key: string, bytes: Buffer, contentType: string): Promise<void> {
    // Encryption at rest is the bucket's default (serverless.yml), so no header an emulator may not know.
    await this.#s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentType: contentType }));
  }
}

/** The screen is taken within this of the diagnosis: a picture comes second to the diagnosis itself. */
const SCREENSHOT_WAIT_MS = 5_000;

/**
 * The guest's screen at diagnosis time, stored as `screenshots/<server>/<diagnosis>.png`: a Windows
 * blue screen is often only on the screen. A guest without graphics has none (undefined, not an
 * error); any failure (an agent too old for the request kind, S3 unavailable) is logged and the
 * diagnosis goes on without one.
 */
export async function takeScreenshot(
  server: ServerRecord,
  record: DiagnosisRecord,
  request: { deadline: number; requestId: string },
  deps: { requester: HostRequester; screenshots: ScreenshotStore; logger: Logger; now?: () => number },
): Promise<ScreenshotRef | undefined> {
  const now = deps.now ?? Date.now;
  try {
    const { image, contentType } = await askHost(deps.requester, 'console.screenshot', server.host, {
      server: { id: server.id, instanceName: server.instanceName },
    }, { deadline: Math.min(request.deadline, now() + SCREENSHOT_WAIT_MS), requestId: `${request.requestId}-screen`, now });
    if (image === null || contentType === null) return undefined;
    const bytes = Buffer.from(image, 'base64');
    const key = `screenshots/${server.id}/${record.id}.png`;
    await deps.screenshots.put(key, bytes, contentType);
    return { bucket: deps.screenshots.bucket, key, contentType, bytes: bytes.length };
  } catch (err) {
    deps.logger.warn('no screenshot for this diagnosis', { serverId: server.id, diagnosisId: record.id, err });
    return undefined;
  }
}
