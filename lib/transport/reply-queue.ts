import { CreateQueueCommand, DeleteQueueCommand, TagQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { replyQueueName } from './queue-naming.ts';
import { HEARTBEAT_EVERY_MS, HEARTBEAT_TAG, REVALIDATE_AFTER_MS } from './reply-queue-lifetime.ts';
import { isMissingQueue, transportUnavailable } from './sqs-errors.ts';

/** A CreateQueue or TagQueue SQS has not answered by now is not going to be answered. */
const QUEUE_CALL_TIMEOUT_MS = 5_000;

export interface ReplyQueueEvents {
  heartbeatFailed(error: unknown): void;
  /**
   * The queue was found gone (swept while idle, deleted); the next use creates one under a fresh
   * name. Requests that named it will never see their replies.
   */
  replaced(queueUrl: string, why: 'swept while idle' | 'disappeared'): void;
}

/**
 * A requester's private reply queue: created on first use under a fresh UUID name (one-minute
 * retention, heartbeat tag for the sweeper), its heartbeat refreshed in the background while busy;
 * after a quiet spell long enough for the sweeper to have deleted it, checked (by tagging it)
 * before use and replaced if it is gone.
 */
export class ReplyQueue {
  readonly #sqs: SQSClient;
  readonly #namePrefix: string;
  readonly #revalidateAfterMs: number;
  readonly #events: ReplyQueueEvents;
  #queueUrl: Promise<string> | undefined;
  #revalidating: Promise<string> | undefined;
  /** When the queue's heartbeat tag was last known fresh. */
  #taggedAt = 0;

  constructor(sqs: SQSClient, namePrefix: string, events: ReplyQueueEvents, revalidateAfterMs = REVALIDATE_AFTER_MS) {
    this.#sqs = sqs;
    this.#namePrefix = namePrefix;
    this.#events = events;
    this.#revalidateAfterMs = revalidateAfterMs;
  }

  /** The queue URL, creating the queue if there is none (concurrent callers share one creation). */
  current(): Promise<string> {
    this.#queueUrl ??= this.#sqs
      .send(new CreateQueueCommand({
        QueueName: replyQueueName(this.#namePrefix),
        Attributes: { MessageRetentionPeriod: '60', ReceiveMessageWaitTimeSeconds: '0' },
        tags: { [HEARTBEAT_TAG]: String(Date.now()) },
      }), { abortSignal: AbortSignal.timeout(QUEUE_CALL_TIMEOUT_MS) })
      .then((out) => {
        this.#taggedAt = Date.now();
        return out.QueueUrl!;
      })
      .catch((err: unknown) => {
        this.#queueUrl = undefined;
        throw transportUnavailable(err, 'creating the reply queue');
      });
    return this.#queueUrl;
  }

  /** The queue to name in a request: with a fresh heartbeat, and known to exist after a quiet spell. */
  async usable(): Promise<string> {
    const current = this.current();
    const queueUrl = await current;
    const quietMs = Date.now() - this.#taggedAt;
    if (quietMs < this.#revalidateAfterMs) {
      if (quietMs >= HEARTBEAT_EVERY_MS) {
        this.#taggedAt = Date.now();
        this.#tag(queueUrl).catch((err: unknown) => {
          this.#events.heartbeatFailed(err);
          if (!isMissingQueue(err)) return;
          if (this.#queueUrl === current) this.#queueUrl = undefined;
          this.#events.replaced(queueUrl, 'disappeared');
        });
      }
      return queueUrl;
    }
    this.#revalidating ??= this.#tag(queueUrl)
      .then(() => {
        this.#taggedAt = Date.now();
        return queueUrl;
      }, (err: unknown) => {
        if (!isMissingQueue(err)) throw transportUnavailable(err, 'refreshing the reply queue');
        this.#events.replaced(queueUrl, 'swept while idle');
        if (this.#queueUrl === current) this.#queueUrl = undefined;
        return this.current();
      })
      .finally(() => (this.#revalidating = undefined));
    return this.#revalidating;
  }

  /** SQS said the queue is gone: forget it, so the next request creates one under a fresh name. */
  async lost(queueUrl: string): Promise<void> {
    this.#events.replaced(queueUrl, 'disappeared');
    if (this.#queueUrl && (await this.#queueUrl.catch(() => undefined)) === queueUrl) this.#queueUrl = undefined;
  }

  async delete(): Promise<void> {
    const queueUrl = await this.#queueUrl?.catch(() => undefined);
    this.#queueUrl = undefined;
    if (queueUrl) await this.#sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  }

  #tag(queueUrl: string): Promise<unknown> {
    return this.#sqs.send(
      new TagQueueCommand({ QueueUrl: queueUrl, Tags: { [HEARTBEAT_TAG]: String(Date.now()) } }),
      { abortSignal: AbortSignal.timeout(QUEUE_CALL_TIMEOUT_MS) },
    );
  }
}
