import { VmconsoleError } from '../errors.ts';
import type { AgentReply } from './envelope.ts';

interface Pending {
  resolve(reply: AgentReply): void;
  reject(err: Error): void;
  deadline: number;
  /** The reply queue named in the request: if that queue is lost, so is the reply. */
  replyTo: string | undefined;
  /** SQS took the request: from now on only the host can be late. */
  sent: boolean;
  timer: NodeJS.Timeout;
}

/**
 * The requests a requester waits on, by correlation id. Each settles exactly once, and by its
 * deadline whatever SQS does: HostTimeout when SQS took the request (the host is late),
 * TransportUnavailable when it never did.
 */
export class PendingRequests {
  readonly #pending = new Map<string, Pending>();

  get size(): number {
    return this.#pending.size;
  }

  add(correlationId: string, deadline: number): Promise<AgentReply> {
    return new Promise<AgentReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = this.take(correlationId);
        pending?.reject(pending.sent
          ? new VmconsoleError('HostTimeout', 'The compute host did not answer before the deadline.')
          : new VmconsoleError('TransportUnavailable', 'The message queue service is unavailable. Try again shortly.', { detail: 'SQS did not take the request before its deadline' }));
      }, Math.max(0, deadline - Date.now()));
      this.#pending.set(correlationId, { resolve, reject, deadline, replyTo: undefined, sent: false, timer });
    });
  }

  /** Record where the reply will come (false when the request already settled). */
  sending(correlationId: string, replyTo: string): boolean {
    const pending = this.#pending.get(correlationId);
    if (pending) pending.replyTo = replyTo;
    return pending !== undefined;
  }

  sent(correlationId: string): void {
    const pending = this.#pending.get(correlationId);
    if (pending) pending.sent = true;
  }

  /** Remove and return a request so the caller settles it; undefined if it already settled. */
  take(correlationId: string): Pending | undefined {
    const pending = this.#pending.get(correlationId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.#pending.delete(correlationId);
    return pending;
  }

  nearestDeadline(): number {
    let nearest = Infinity;
    for (const p of this.#pending.values()) nearest = Math.min(nearest, p.deadline);
    return nearest;
  }

  /** Fail every request whose reply was to come on `replyTo` (undefined: all of them). */
  rejectAll(err: Error, replyTo?: string): void {
    for (const [id, pending] of [...this.#pending]) {
      if (replyTo === undefined || pending.replyTo === replyTo) this.take(id)?.reject(err);
    }
  }
}
