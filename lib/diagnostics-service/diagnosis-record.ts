import type { Diagnosis } from '../diagnostics/diagnosis.ts';

/** What set a diagnosis off: an event from the events queue, or someone asking through the API. */
export interface DiagnosisTrigger {
  /** `agent-lifecycle`, `cloudwatch-alarm`, `api`, or what an external sender said. */
  source: string;
  reason: string;
  /** Epoch ms. */
  at: number;
  /** The sender's own hints, kept as they came (bounded by the event format). */
  host?: string;
  boot?: string;
  signature?: string;
}

/** A stored screenshot of the guest's screen at crash time (guests with graphics only). */
export interface ScreenshotRef {
  bucket: string;
  key: string;
  contentType: string;
  bytes: number;
}

/**
 * One stored diagnosis: what the API returns and what SNS carries (its `record` field). Fields are
 * only ever added.
 */
export interface DiagnosisRecord {
  v: 1;
  /** Unique; also the SNS message's id for subscribers that deduplicate. */
  id: string;
  serverId: string;
  /** The server's project when it was diagnosed, from the directory (never from the event). */
  projectId: string;
  serverName: string;
  /** ISO 8601, when it was diagnosed. */
  createdAt: string;
  /** What makes two events the same crash (README, "Diagnose function"). */
  crash: { boot: string; signature: string };
  trigger: DiagnosisTrigger;
  /** False until SNS accepted it; a diagnosis is stored before it is published. */
  published: boolean;
  publishedAt?: string;
  screenshot?: ScreenshotRef;
  diagnosis: Diagnosis;
}
