import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { isMissingQueue } from './sqs-errors.ts';

/** While SQS is unreachable: retry soon enough that a short outage costs no request its deadline. */
const MAX_RECEIVE_BACKOFF_MS = 2_000;
const RECEIVE_WAIT_S = 20;
/** A long poll not answered this long after its wait rode a dead connection: give up on it, or the agent stalls. */
const RECEIVE_GRACE_MS = 10_000;

export interface HostQueuePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  concurrency: number;
  /** Handles one message; the poller counts it in flight until this settles. */
  onMessage(message: Message): Promise<void>;
  /** Re-creates the queue when it disappears and returns its URL. */
  recreateQueue?: () => Promise<string>;
  onReceiveError(error: unknown, retryInMs: number): void;
  onQueueMissing(queueUrl: string): void;
  onQueueRecreated(queueUrl: string): void;
}

/**
 * Long-polls a host queue in batches of up to ten, never holding more messages than free slots,
 * backing off while SQS is unreachable, and re-creating the queue when SQS says it is gone.
 */
export class HostQueuePoller {
  readonly #o: HostQueuePollerOptions;
  #queueUrl: string;
  #inFlight = 0;
  #slotFreed: (() => void) | undefined;
  #running = false;
  #receive: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  #wake: (() => void) | undefined;

  constructor(options: HostQueuePollerOptions) {
    if (options.concurrency < 1) throw new Error('concurrency must be at least 1');
    this.#o = options;
    this.#queueUrl = options.queueUrl;
  }

  get queueUrl(): string {
    return this.#queueUrl;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#pollLoop();
  }

  /** Stop receiving (abandoning the receive in flight) and wait for the messages being handled. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#receive?.abort();
    this.#slotFreed?.();
    this.#wake?.();
    await this.#loop;
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
  }

  async #pollLoop(): Promise<void> {
    let backoffMs = 100;
    while (this.#running) {
      if (this.#inFlight >= this.#o.concurrency) {
        await new Promise<void>((resolve) => (this.#slotFreed = resolve));
        continue;
      }
      const receive = new AbortController();
      this.#receive = receive;
      let messages: Message[];
      try {
        const out = await this.#o.sqs.send(new ReceiveMessageCommand({
          QueueUrl: this.#queueUrl,
          MaxNumberOfMessages: Math.min(10, this.#o.concurrency - this.#inFlight),
          WaitTimeSeconds: RECEIVE_WAIT_S,
          MessageAttributeNames: ['All'],
          // The responder tells a message's last receive before the DLQ from this.
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }), { abortSignal: AbortSignal.any([receive.signal, AbortSignal.timeout(RECEIVE_WAIT_S * 1000 + RECEIVE_GRACE_MS)]) });
        messages = out.Messages ?? [];
        backoffMs = 100;
      } catch (err) {
        if (!this.#running) return;
        // Real SQS refuses a deleted name for 60 s: a failed re-creation is retried like a failed receive.
        const failure = isMissingQueue(err) && this.#o.recreateQueue ? await this.#recreate() : err;
        if (failure === undefined) continue;
        this.#o.onReceiveError(failure, backoffMs);
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, backoffMs);
        });
        backoffMs = Math.min(backoffMs * 2, MAX_RECEIVE_BACKOFF_MS);
        continue;
      }
      for (const message of messages) void this.#handle(message);
    }
  }

  async #handle(message: Message): Promise<void> {
    this.#inFlight += 1;
    try {
      await this.#o.onMessage(message);
    } finally {
      this.#inFlight -= 1;
      this.#slotFreed?.();
      this.#slotFreed = undefined;
      if (this.#inFlight === 0) this.#drained?.();
    }
  }

  /** Undefined once the queue is back, else why it is not. */
  async #recreate(): Promise<unknown> {
    this.#o.onQueueMissing(this.#queueUrl);
    try {
      this.#queueUrl = await this.#o.recreateQueue!();
      this.#o.onQueueRecreated(this.#queueUrl);
      return undefined;
    } catch (err) {
      return err ?? new Error('re-creating the host queue failed');
    }
  }
}
