import { z } from 'zod';

/**
 * Crash diagnostics' own settings, read once per execution environment (the diagnose function and
 * the /vmconsole/v1 API); a bad value fails initialisation with a clear message.
 *   VMCONSOLE_DIAGNOSES_TABLE           DynamoDB table of diagnoses (required)
 *   VMCONSOLE_DIAGNOSES_TOPIC_ARN       SNS topic diagnoses are published to (required)
 *   VMCONSOLE_DIAGNOSES_RETENTION_DAYS  how long a diagnosis is kept (default 30; the table's TTL)
 *   VMCONSOLE_SNS_ENDPOINT              SNS endpoint (default: VMCONSOLE_SQS_ENDPOINT, where fauxqs
 *                                       serves both locally; empty in AWS: the region's)
 *   VMCONSOLE_SCREENSHOT_BUCKET         S3 bucket for screenshots of guests with graphics (unset: none taken)
 *   VMCONSOLE_S3_ENDPOINT               S3 endpoint (default: VMCONSOLE_SQS_ENDPOINT, as for SNS)
 */
export interface DiagnosticsConfig {
  tableName: string;
  topicArn: string;
  retentionDays: number;
  snsEndpoint: string | undefined;
  screenshotBucket: string | undefined;
  s3Endpoint: string | undefined;
}

const Schema = z.object({
  VMCONSOLE_DIAGNOSES_TABLE: z.string().min(3, 'is required (at least 3 characters)').max(255),
  VMCONSOLE_DIAGNOSES_TOPIC_ARN: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN'),
  VMCONSOLE_DIAGNOSES_RETENTION_DAYS: z.coerce.number().min(1).max(3650),
  VMCONSOLE_SCREENSHOT_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name').optional(),
});

export function readDiagnosticsConfig(env: NodeJS.ProcessEnv = process.env): DiagnosticsConfig {
  const value = (name: string, fallback: string) => env[name]?.trim() || fallback;
  const parsed = Schema.safeParse({
    VMCONSOLE_DIAGNOSES_TABLE: value('VMCONSOLE_DIAGNOSES_TABLE', ''),
    VMCONSOLE_DIAGNOSES_TOPIC_ARN: value('VMCONSOLE_DIAGNOSES_TOPIC_ARN', ''),
    VMCONSOLE_DIAGNOSES_RETENTION_DAYS: value('VMCONSOLE_DIAGNOSES_RETENTION_DAYS', '30'),
    VMCONSOLE_SCREENSHOT_BUCKET: env.VMCONSOLE_SCREENSHOT_BUCKET?.trim() || undefined,
  });
  if (!parsed.success) {
    throw new Error(`invalid crash diagnostics configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  }
  const c = parsed.data;
  return {
    tableName: c.VMCONSOLE_DIAGNOSES_TABLE,
    topicArn: c.VMCONSOLE_DIAGNOSES_TOPIC_ARN,
    retentionDays: c.VMCONSOLE_DIAGNOSES_RETENTION_DAYS,
    snsEndpoint: env.VMCONSOLE_SNS_ENDPOINT?.trim() || env.VMCONSOLE_SQS_ENDPOINT?.trim() || undefined,
    screenshotBucket: c.VMCONSOLE_SCREENSHOT_BUCKET,
    s3Endpoint: env.VMCONSOLE_S3_ENDPOINT?.trim() || env.VMCONSOLE_SQS_ENDPOINT?.trim() || undefined,
  };
}
