import type { WebSocket } from 'ws';

interface Waiting {
  resolve(agent: WebSocket): void;
  reject(reason: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The tunnels the relay is waiting for, by session: each can be claimed once, by the first agent
 * dialling in with its (already verified) tunnel id. One not claimed in time fails, and so does
 * one whose console.connect failed or whose browser left.
 */
export class PendingTunnels {
  readonly #waiting = new Map<string, Waiting>();

  get size(): number {
    return this.#waiting.size;
  }

  expect(session: string, timeoutMs: number): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(session, new Error(`no agent dialled in within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.set(session, { resolve, reject, timer });
    });
  }

  /** The session's hand-off if it is still waiting; it is gone afterwards (single use). */
  claim(session: string): ((agent: WebSocket) => void) | undefined {
    const waiting = this.#waiting.get(session);
    if (!waiting) return undefined;
    this.#waiting.delete(session);
    clearTimeout(waiting.timer);
    return waiting.resolve;
  }

  fail(session: string, reason: Error): void {
    const waiting = this.#waiting.get(session);
    if (!waiting) return;
    this.#waiting.delete(session);
    clearTimeout(waiting.timer);
    waiting.reject(reason);
  }

  failAll(reason: Error): void {
    for (const session of [...this.#waiting.keys()]) this.fail(session, reason);
  }
}
