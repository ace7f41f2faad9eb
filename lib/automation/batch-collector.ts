import type { AutomationReply } from '../contracts/automation.ts';

/**
 * A client's view of one batch: the FIRST reply per seq counts (SQS reorders and duplicates, and a
 * host that dies mid-batch may have its servers answered twice: by the agent before the deadline,
 * then by the router's HostTimeout); the batch is complete when seqs 1..total are all there, or at
 * once on a `total: 0` reply. Replies of other requests are not this batch's.
 */
export class BatchCollector {
  readonly requestId: string;
  readonly #replies = new Map<number, AutomationReply>();
  #total: number | undefined;
  duplicates = 0;

  constructor(requestId: string) {
    this.requestId = requestId;
  }

  /** Whether the reply was this batch's and new. */
  add(reply: AutomationReply): boolean {
    if (reply.requestId !== this.requestId) return false;
    this.#total ??= reply.total;
    if (this.#replies.has(reply.seq)) {
      this.duplicates += 1;
      return false;
    }
    this.#replies.set(reply.seq, reply);
    return true;
  }

  get total(): number | undefined {
    return this.#total;
  }

  get complete(): boolean {
    if (this.#total === undefined) return false;
    if (this.#total === 0) return this.#replies.has(0);
    for (let seq = 1; seq <= this.#total; seq++) if (!this.#replies.has(seq)) return false;
    return true;
  }

  /** The replies by seq (1..total; the single seq-0 reply of an unexpandable request). */
  get replies(): AutomationReply[] {
    return [...this.#replies.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Seqs not yet answered. */
  missing(): number[] {
    const out: number[] = [];
    for (let seq = 1; seq <= (this.#total ?? 0); seq++) if (!this.#replies.has(seq)) out.push(seq);
    return out;
  }
}
