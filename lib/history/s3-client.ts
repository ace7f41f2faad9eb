import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { awsClientOptions } from '../aws-client-options.ts';

/**
 * The S3 client of console history, for agents and edge alike: VMCONSOLE_S3_ENDPOINT, else
 * VMCONSOLE_SQS_ENDPOINT (fauxqs serves both locally), else the region's. Path-style against an
 * emulator, as S3 clients must address it.
 */
export function createHistoryS3Client(env: NodeJS.ProcessEnv): S3Client {
  const endpoint = env.VMCONSOLE_S3_ENDPOINT?.trim() || env.VMCONSOLE_SQS_ENDPOINT?.trim() || undefined;
  return new S3Client({ ...awsClientOptions(endpoint, env), forcePathStyle: endpoint !== undefined });
}

/** S3 bucket names, as the history bucket variable must be. */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `<service>-<stage>-history`: the bucket serverless.yml declares (HistoryBucket), named so locally. */
export const historyBucketName = (service: string, stage: string) => `${service}-${stage}-history`;

/** The history bucket for the local stack and the tests (no CloudFormation runs there). */
export async function ensureHistoryBucket(s3: S3Client, bucket: string): Promise<string> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: { name?: string }) => {
    if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
  });
  return bucket;
}
