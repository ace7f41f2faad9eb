import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { DiagnosisRecord } from './diagnosis-record.ts';

/** Where diagnoses go once stored: an SNS topic (in AWS, and on fauxqs locally and in the tests). */
export interface DiagnosisPublisher {
  publish(record: DiagnosisRecord): Promise<void>;
}

/** SNS takes 256 KiB per message, attributes included; leave room for them. */
const MAX_MESSAGE_BYTES = 240 * 1024;

/**
 * The SNS message (README, "Diagnoses on SNS"): the stored record without its publish state, with
 * the headline fields repeated at the top for subscribers that read only those. A diagnosis too
 * large for SNS (a huge call trace in every finding) drops its findings' evidence, then its own
 * context lines; the API still has it whole.
 */
export function diagnosisMessage(record: DiagnosisRecord): string {
  const { published: _p, publishedAt: _a, ...rest } = record;
  const d = record.diagnosis;
  const head = { type: 'vmconsole.diagnosis', category: d.category, severity: d.severity, summary: d.summary, ...(d.reason !== undefined && { reason: d.reason }), ...(d.code !== undefined && { code: d.code }) };
  let message = JSON.stringify({ ...head, ...rest });
  if (Buffer.byteLength(message) <= MAX_MESSAGE_BYTES) return message;
  const slimmer = { ...d, findings: d.findings.map((f) => ({ ...f, evidence: { lines: f.evidence.lines.slice(0, 2), context: { kind: f.evidence.context.kind, lines: [] } } })) };
  message = JSON.stringify({ ...head, ...rest, diagnosis: slimmer });
  if (Buffer.byteLength(message) <= MAX_MESSAGE_BYTES) return message;
  return JSON.stringify({ ...head, ...rest, diagnosis: { ...slimmer, findings: [], evidence: { lines: d.evidence.lines.slice(0, 2), context: { kind: d.evidence.context.kind, lines: [] } } }, truncated: true });
}

/**
 * Message attributes for subscription filter policies: `category` and `severity` (the analyser's
 * names), and `projectId`/`serverId` so a tenant's queue can take only its own servers.
 */
export function diagnosisAttributes(record: DiagnosisRecord) {
  const s = (StringValue: string) => ({ DataType: 'String', StringValue });
  return {
    category: s(record.diagnosis.category),
    severity: s(record.diagnosis.severity),
    projectId: s(record.projectId),
    serverId: s(record.serverId),
  };
}

export class SnsDiagnosisPublisher implements DiagnosisPublisher {
  readonly #sns: SNSClient;
  readonly #topicArn: string;

  constructor(sns: SNSClient, topicArn: string) {
    this.#sns = sns;
    this.#topicArn = topicArn;
  }

  async publish(record: DiagnosisRecord): Promise<void> {
    await this.#sns.send(new PublishCommand({ TopicArn: this.#topicArn, Message: diagnosisMessage(record), MessageAttributes: diagnosisAttributes(record) }));
  }
}
