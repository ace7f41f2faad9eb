const REMEMBER_ANSWERED_MS = 5 * 60_000;
const REMEMBER_ANSWERED_MAX = 10_000;

/**
 * Duplicate suppression for at-least-once delivery: correlation ids being worked on, and those
 * answered in the last few minutes (bounded, oldest forgotten first). A copy of either is not run
 * again.
 */
export class AnsweredRequests {
  readonly #answered = new Map<string, number>();
  readonly #inProgress = new Set<string>();

  isDuplicate(correlationId: string): boolean {
    return this.#answered.has(correlationId) || this.#inProgress.has(correlationId);
  }

  start(correlationId: string): void {
    this.#inProgress.add(correlationId);
  }

  finish(correlationId: string): void {
    this.#inProgress.delete(correlationId);
  }

  remember(correlationId: string): void {
    const now = Date.now();
    this.#answered.set(correlationId, now + REMEMBER_ANSWERED_MS);
    for (const [id, expires] of this.#answered) {
      if (this.#answered.size <= REMEMBER_ANSWERED_MAX && expires > now) break;
      this.#answered.delete(id);
    }
  }
}
