import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import type { AutomationReply } from '../contracts/automation.ts';
import { encodeAutomationReply } from './envelope.ts';
import type { ReplyDestinations } from './queue-naming.ts';

/** SQS takes at most 10 entries and 1 MiB per SendMessageBatch; the margin covers the request's own JSON. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 1024 * 1024 - 16 * 1024;

/**
 * Sends automation replies (one per server) to a client's queue: the router's own answers and the
 * agents' answers go out through this one class, so both obey the same allow-list
 * (`ReplyDestinations`, lib/transport/queue-naming.ts) and the same batching: up to ten replies per
 * SendMessageBatch, as many as fit in SQS's 1 MiB, which is what keeps SQS calls per server output
 * well under one (npm run bench -- automation).
 */
export class AutomationReplies {
  readonly #sqs: SQSClient;
  readonly #destinations: ReplyDestinations | undefined;

  /** Without destinations, no client queue is allowed (an agent not configured for automation). */
  constructor(sqs: SQSClient, destinations: ReplyDestinations | undefined) {
    this.#sqs = sqs;
    this.#destinations = destinations;
  }

  get prefixes(): readonly string[] {
    return this.#destinations?.prefixes ?? [];
  }

  isAllowed(replyTo: string): boolean {
    return this.#destinations?.isAllowedReplyDestination(replyTo) ?? false;
  }

  /** Send every reply or throw; a caller must have checked `isAllowed` (this checks again). */
  async send(replyTo: string, replies: readonly AutomationReply[], signal?: AbortSignal): Promise<void> {
    if (!this.isAllowed(replyTo)) throw new Error(`not an allowed client reply queue: ${replyTo.slice(0, 200)}`);
    for (const batch of batches(replies.map((reply) => encodeAutomationReply(reply).MessageBody))) {
      let entries: SendMessageBatchRequestEntry[] = batch.map((MessageBody, i) => ({ Id: String(i), MessageBody }));
      // An entry SQS failed (throttling, its own error) is tried once more, alone with the others that failed.
      for (let attempt = 0; entries.length > 0; attempt++) {
        const { Failed = [] } = await this.#sqs.send(new SendMessageBatchCommand({ QueueUrl: replyTo, Entries: entries }), signal ? { abortSignal: signal } : {});
        if (Failed.length === 0) break;
        if (attempt >= 1) throw new Error(`SQS refused ${Failed.length} replies to ${replyTo}: ${Failed[0]!.Code ?? ''} ${Failed[0]!.Message ?? ''}`.trim());
        const failed = new Set(Failed.map((f) => f.Id));
        entries = entries.filter((e) => failed.has(e.Id));
      }
    }
  }
}

/** Bodies grouped by at most MAX_ENTRIES and MAX_BATCH_BYTES, in order. */
function batches(bodies: readonly string[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body);
    if (current.length > 0 && (current.length === MAX_ENTRIES || bytes + size > MAX_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
