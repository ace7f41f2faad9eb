import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DriverEvent } from '../hypervisors/driver.ts';
import type { Logger } from '../logger.ts';

/** What the agent says about a crash (lib/contracts/crash-events.ts, version 1). */
export interface AgentCrashEvent {
  serverId: string;
  reason: string;
  /** `agent-lifecycle` (the hypervisor said so); the log follower will send `agent-console`. */
  source: string;
  at: number;
  boot?: string;
  signature?: string;
}

/** Servers with a trailing event waiting at once, at most (a host whose every guest floods its console). */
const MAX_TRAILING = 10_000;

export interface CrashEventSenderOptions {
  sqs: SQSClient;
  queueUrl: string;
  host: string;
  logger: Logger;
  /** One crash is often reported twice (libvirt: panicked, then stopped crashed): one event per server within this. */
  quietMs?: number;
  /** Sends in flight at most; past it, events are dropped and counted (a host whose every guest crashes at once). */
  maxInFlight?: number;
}

/**
 * Sends crash events to the events queue, never blocking or throwing into its caller (a driver's
 * event path, and later the log follower): one attempt and one retry per event, failures logged.
 * An event lost here is not a crash lost: an alarm or the next event for the server brings it back.
 */
export class CrashEventSender {
  readonly #o: Required<CrashEventSenderOptions>;
  readonly #lastSent = new Map<string, number>();
  /** Per server, the newest console event of its quiet time, sent when that time ends. */
  readonly #trailing = new Map<string, { event: AgentCrashEvent; timer: NodeJS.Timeout }>();
  #inFlight = 0;
  #dropped = 0;

  constructor(options: CrashEventSenderOptions) {
    this.#o = { quietMs: 10_000, maxInFlight: 64, ...options };
  }

  /** A driver event: crashes become events, everything else is ignored. */
  onDriverEvent(event: DriverEvent): void {
    if (event.type !== 'crashed') return;
    this.send({ serverId: event.server.id, reason: `hypervisor reported ${event.reason}`.slice(0, 1024), source: 'agent-lifecycle', at: event.at });
  }

  send(event: AgentCrashEvent): void {
    const last = this.#lastSent.get(event.serverId);
    if (last !== undefined && event.at - last < this.#o.quietMs && event.at >= last) {
      // A console that prints more within the quiet time may be printing what the first event's
      // read could not see yet (a panic after a warning, the panic lines after libvirt's Crashed):
      // one trailing event at the end of the quiet time has it read again. A hypervisor repeating
      // itself adds nothing, and the diagnose function dedupes a crash it has already seen.
      if (event.source === 'agent-console') this.#trail(event, last + this.#o.quietMs - event.at);
      return;
    }
    this.#dispatch(event);
  }

  /** Stops trailing events still waiting (the agent is stopping; its SQS client goes next). */
  close(): void {
    for (const { timer } of this.#trailing.values()) clearTimeout(timer);
    this.#trailing.clear();
  }

  #trail(event: AgentCrashEvent, delayMs: number): void {
    const waiting = this.#trailing.get(event.serverId);
    if (waiting) {
      waiting.event = event;
      return;
    }
    if (this.#trailing.size >= MAX_TRAILING) return;
    const timer = setTimeout(() => {
      const latest = this.#trailing.get(event.serverId)!.event;
      this.#trailing.delete(event.serverId);
      this.#dispatch(latest);
    }, Math.max(0, delayMs));
    timer.unref();
    this.#trailing.set(event.serverId, { event, timer });
  }

  #dispatch(event: AgentCrashEvent): void {
    if (this.#inFlight >= this.#o.maxInFlight) {
      if (this.#dropped++ % 100 === 0) this.#o.logger.warn('crash events dropped: too many being sent at once', { dropped: this.#dropped });
      return;
    }
    this.#lastSent.set(event.serverId, event.at);
    if (this.#lastSent.size > 10_000) this.#lastSent.delete(this.#lastSent.keys().next().value!);
    const body = JSON.stringify({ v: 1, ...event, host: this.#o.host });
    this.#inFlight += 1;
    void this.#deliver(body, event.serverId).finally(() => (this.#inFlight -= 1));
  }

  async #deliver(body: string, serverId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#o.sqs.send(new SendMessageCommand({ QueueUrl: this.#o.queueUrl, MessageBody: body }));
        this.#o.logger.info('crash event sent', { serverId });
        return;
      } catch (err) {
        if (attempt >= 2) {
          this.#o.logger.error('crash event not sent', { serverId, error: String(err) });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }
}
