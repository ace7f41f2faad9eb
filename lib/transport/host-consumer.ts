import { EventEmitter } from 'node:events';
import {
  ChangeMessageVisibilityCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand,
  type Message, type SQSClient,
} from '@aws-sdk/client-sqs';
import { AgentRequest, ATTR, PROTOCOL_VERSION, type AgentReply } from '../contracts/messages.ts';
import { isVmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { QUEUE_URL } from '../contracts/records.ts';
import { HOST_QUEUE_VISIBILITY_S } from './host-queue.ts';
import { isMissingQueue } from './sqs-errors.ts';

export type RequestHandler = (request: AgentRequest, context: { deadline: number; signal: AbortSignal }) => Promise<unknown>;

export interface HostConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Replies go only to queue URLs that start with this (the edge's reply queues). */
  replyQueueUrlPrefix: string;
  concurrency?: number;
  /** Must match the queue's VisibilityTimeout. */
  visibilityTimeoutS?: number;
  handle: RequestHandler;
  logger?: Logger;
}

/** A poison message is left for SQS to redeliver after this long; after 3 receives it is in the DLQ. */
const POISON_BACKOFF_S = 2;
const REMEMBER_ANSWERED_MS = 5 * 60_000;
const REMEMBER_ANSWERED_MAX = 10_000;
const DELETE_BATCH_MS = 20;
/** While SQS is unreachable: retry soon enough that a short outage costs no request its deadline. */
const MAX_RECEIVE_BACKOFF_MS = 2_000;
const RECEIVE_WAIT_S = 20;
/** A long poll not answered this long after its wait rode a dead connection: give up on it, or the agent stalls. */
const RECEIVE_GRACE_MS = 10_000;

interface Accepted {
  request: AgentRequest;
  correlationId: string;
  replyTo: string;
  deadline: number;
}

/**
 * The agent's side of the transport: long-polls the host queue, runs requests with bounded
 * concurrency, extends visibility while slow work runs, replies on the caller's queue and deletes
 * in batches. Poison messages are never answered nor deleted: SQS moves them to the DLQ.
 * Events: 'replied', 'dropped' (deadline passed or caller's reply queue gone; with a `reason`),
 * 'duplicate', 'poison', 'error'.
 */
export class HostConsumer extends EventEmitter {
  readonly #o: Required<Omit<HostConsumerOptions, 'logger'>> & { logger: Logger | undefined };
  readonly #answered = new Map<string, number>();
  readonly #inProgress = new Set<string>();
  #inFlight = 0;
  #slotFreed: (() => void) | undefined;
  #running = false;
  #receive: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #deletes: Array<{ Id: string; ReceiptHandle: string }> = [];
  #deleteScheduled = false;
  #drained: (() => void) | undefined;
  #wake: (() => void) | undefined;

  constructor(options: HostConsumerOptions) {
    super();
    this.#o = { concurrency: 16, visibilityTimeoutS: HOST_QUEUE_VISIBILITY_S, ...options, logger: options.logger };
    if (this.#o.concurrency < 1) throw new Error('concurrency must be at least 1');
    if (!/^https?:\/\/[^/]+\/[A-Za-z0-9]+\/[A-Za-z0-9_-]*$/.test(this.#o.replyQueueUrlPrefix)) throw new Error(`invalid reply queue URL prefix: ${this.#o.replyQueueUrlPrefix}`);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#pollLoop();
  }

  /** Stop polling, finish the requests in flight, flush deletes. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#receive?.abort();
    this.#slotFreed?.();
    this.#wake?.();
    await this.#loop;
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    await this.#flushDeletes();
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
          QueueUrl: this.#o.queueUrl,
          MaxNumberOfMessages: Math.min(10, this.#o.concurrency - this.#inFlight),
          WaitTimeSeconds: RECEIVE_WAIT_S,
          MessageAttributeNames: ['All'],
        }), { abortSignal: AbortSignal.any([receive.signal, AbortSignal.timeout(RECEIVE_WAIT_S * 1000 + RECEIVE_GRACE_MS)]) });
        messages = out.Messages ?? [];
        backoffMs = 100;
      } catch (err) {
        if (!this.#running) return;
        this.#o.logger?.warn('receive failed; retrying', { error: String(err), retryInMs: backoffMs });
        this.#reportError(err);
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, backoffMs);
        });
        backoffMs = Math.min(backoffMs * 2, MAX_RECEIVE_BACKOFF_MS);
        continue;
      }
      for (const message of messages) void this.#process(message);
    }
  }

  async #process(message: Message): Promise<void> {
    this.#inFlight += 1;
    try {
      const accepted = this.#accept(message);
      if (typeof accepted === 'string') {
        this.#o.logger?.warn('poison message left for the DLQ', { messageId: message.MessageId, reason: accepted });
        this.emit('poison', { messageId: message.MessageId, reason: accepted });
        await this.#changeVisibility(message, POISON_BACKOFF_S);
        return;
      }
      const { correlationId, deadline } = accepted;
      if (Date.now() >= deadline) {
        this.emit('dropped', { correlationId, reason: 'deadline' });
        this.#delete(message);
        return;
      }
      if (this.#answered.has(correlationId) || this.#inProgress.has(correlationId)) {
        this.emit('duplicate', { correlationId });
        this.#delete(message);
        return;
      }
      this.#inProgress.add(correlationId);
      try {
        await this.#answer(message, accepted);
      } finally {
        this.#inProgress.delete(correlationId);
      }
    } catch (err) {
      this.#o.logger?.error('request processing failed; it will be redelivered', { messageId: message.MessageId, error: String(err) });
      this.#reportError(err);
    } finally {
      this.#inFlight -= 1;
      this.#slotFreed?.();
      this.#slotFreed = undefined;
      if (this.#inFlight === 0) this.#drained?.();
    }
  }

  async #answer(message: Message, { request, correlationId, replyTo, deadline }: Accepted): Promise<void> {
    const abort = new AbortController();
    const expiry = setTimeout(() => abort.abort(), deadline - Date.now());
    // Keep the message hidden while slow work runs, so no other agent starts it twice.
    const extend = setInterval(() => void this.#changeVisibility(message, this.#o.visibilityTimeoutS), (this.#o.visibilityTimeoutS * 1000) / 3);
    let reply: AgentReply;
    try {
      reply = { v: PROTOCOL_VERSION, ok: true, result: await this.#o.handle(request, { deadline, signal: abort.signal }) };
    } catch (err) {
      if (!isVmconsoleError(err)) this.#o.logger?.error('handler failed', { correlationId, error: err instanceof Error ? err.stack : String(err) });
      reply = isVmconsoleError(err)
        ? { v: PROTOCOL_VERSION, ok: false, error: { code: err.code, message: err.message.slice(0, 4096) } }
        : { v: PROTOCOL_VERSION, ok: false, error: { code: 'Internal', message: 'agent error: the request failed on the compute host' } };
    } finally {
      clearTimeout(expiry);
      clearInterval(extend);
    }
    if (Date.now() >= deadline) {
      this.emit('dropped', { correlationId, reason: 'deadline' });
      this.#delete(message);
      return;
    }
    try {
      await this.#o.sqs.send(new SendMessageCommand({
        QueueUrl: replyTo,
        MessageBody: JSON.stringify(reply),
        MessageAttributes: { [ATTR.correlationId]: { DataType: 'String', StringValue: correlationId } },
      }), { abortSignal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) }); // nobody reads it later
    } catch (err) {
      if (!isMissingQueue(err)) throw err;
      this.#o.logger?.info('caller reply queue is gone; dropping the request', { correlationId });
      this.#remember(correlationId);
      this.emit('dropped', { correlationId, reason: 'reply queue gone' });
      this.#delete(message);
      return;
    }
    this.#remember(correlationId);
    this.emit('replied', { correlationId, ok: reply.ok });
    this.#delete(message);
  }

  /** A valid request, or why it is poison. */
  #accept(message: Message): Accepted | string {
    const attrs = message.MessageAttributes ?? {};
    const correlationId = attrs[ATTR.correlationId]?.StringValue;
    const replyTo = attrs[ATTR.replyTo]?.StringValue;
    const deadline = Number(attrs[ATTR.deadline]?.StringValue);
    if (!correlationId || correlationId.length > 128) return 'missing or invalid correlationId';
    if (!replyTo || !this.#allowedReplyTo(replyTo)) return `replyTo outside the allowed prefix: ${String(replyTo).slice(0, 200)}`;
    if (!Number.isSafeInteger(deadline)) return 'missing or invalid deadline';
    let body: unknown;
    try {
      body = JSON.parse(message.Body ?? '');
    } catch {
      return 'body is not JSON';
    }
    const parsed = AgentRequest.safeParse(body);
    if (!parsed.success) return `body does not match the request schema: ${parsed.error.issues[0]?.message ?? ''}`;
    return { request: parsed.data, correlationId, replyTo, deadline };
  }

  /** Exactly a queue URL under the prefix: the shape leaves no room for `..`, queries or credentials. */
  #allowedReplyTo(replyTo: string): boolean {
    return QUEUE_URL.test(replyTo) && replyTo.startsWith(this.#o.replyQueueUrlPrefix) && replyTo.length > this.#o.replyQueueUrlPrefix.length;
  }

  /** An EventEmitter throws 'error' events nobody listens to; the agent must keep going instead. */
  #reportError(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #remember(correlationId: string): void {
    const now = Date.now();
    this.#answered.set(correlationId, now + REMEMBER_ANSWERED_MS);
    for (const [id, expires] of this.#answered) {
      if (this.#answered.size <= REMEMBER_ANSWERED_MAX && expires > now) break;
      this.#answered.delete(id);
    }
  }

  async #changeVisibility(message: Message, seconds: number): Promise<void> {
    await this.#o.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.#o.queueUrl, ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: seconds }))
      .catch((err: unknown) => this.#o.logger?.warn('changing visibility failed', { error: String(err) }));
  }

  /**
   * Deletes wait up to DELETE_BATCH_MS to share a DeleteMessageBatch (one billed request for up to
   * ten): the reply has already gone out, so this costs the caller no latency.
   */
  #delete(message: Message): void {
    this.#deletes.push({ Id: String(this.#deletes.length), ReceiptHandle: message.ReceiptHandle! });
    if (this.#deletes.length >= 10) {
      void this.#flushDeletes();
    } else if (!this.#deleteScheduled) {
      this.#deleteScheduled = true;
      setTimeout(() => void this.#flushDeletes(), DELETE_BATCH_MS);
    }
  }

  async #flushDeletes(): Promise<void> {
    this.#deleteScheduled = false;
    const entries = this.#deletes.splice(0, this.#deletes.length).map((e, i) => ({ ...e, Id: String(i) }));
    for (let i = 0; i < entries.length; i += 10) {
      await this.#o.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.#o.queueUrl, Entries: entries.slice(i, i + 10) }))
        .then(({ Failed }) => {
          if (Failed?.length) this.#o.logger?.warn('some deletes failed; those messages will be redelivered and recognised as duplicates', { failed: Failed.length, reason: Failed[0]?.Message });
        })
        .catch((err: unknown) => this.#o.logger?.warn('batch delete failed; messages will be redelivered and recognised as duplicates', { error: String(err) }));
    }
  }
}
