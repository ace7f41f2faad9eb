import { EventEmitter } from 'node:events';

/**
 * An EventEmitter whose events and payloads are declared, as in bbc/sqs-consumer: the application
 * logs and meters from these events; the transport itself logs nothing. An 'error' event is never
 * emitted (an unheard one would throw and end the poller): failures are events of their own.
 */
export class TypedEmitter<Events extends Record<string, unknown>> {
  readonly #emitter = new EventEmitter();

  on<E extends keyof Events & string>(event: E, listener: (payload: Events[E]) => void): this {
    this.#emitter.on(event, listener);
    return this;
  }

  once<E extends keyof Events & string>(event: E, listener: (payload: Events[E]) => void): this {
    this.#emitter.once(event, listener);
    return this;
  }

  off<E extends keyof Events & string>(event: E, listener: (payload: Events[E]) => void): this {
    this.#emitter.off(event, listener);
    return this;
  }

  /** A listener that throws must not break the transport: it is the listener's bug. */
  protected emit<E extends keyof Events & string>(event: E, payload: Events[E]): void {
    for (const listener of this.#emitter.listeners(event)) {
      try {
        (listener as (p: Events[E]) => void)(payload);
      } catch {
        // ignored on purpose, see above
      }
    }
  }
}
