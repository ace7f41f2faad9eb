import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand, TagQueueCommand,
  type Message, type SQSClient,
} from '@aws-sdk/client-sqs';
import { AgentReply, AgentRequest, ATTR } from '../contracts/messages.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { HEARTBEAT_EVERY_MS, HEARTBEAT_TAG, REVALIDATE_AFTER_MS } from './reply-queue-lifetime.ts';
import { isMissingQueue, transportUnavailable } from './sqs-errors.ts';

/** A CreateQueue or TagQueue SQS has not answered by now is not going to be answered. */
const QUEUE_CALL_TIMEOUT_MS = 5_000;
/**
 * A long poll is answered by the end of its wait; one this much later rode a dead connection
 * (an environment frozen mid-receive and thawed, a dropped NAT entry) and is given up. Giving up
 * earlier could hand a reply to a receive nobody reads.
 */
const RECEIVE_GRACE_MS = 5_000;

interface Pending {
  resolve(reply: AgentReply): void;
  reject(err: Error): void;
  deadlineAt: number;
  /** The reply queue named in the request: if that queue is lost, so is the reply. */
  replyTo: string | undefined;
  /** SQS took the request: from now on only the host can be late. */
  sent: boolean;
  timer: NodeJS.Timeout;
}

export interface ReplyChannelOptions {
  sqs: SQSClient;
  namePrefix: string;
  logger?: Logger;
  /** After this long without a heartbeat, check the queue still exists before sending on it. */
  revalidateAfterMs?: number;
}

/**
 * The edge's side of request/reply over SQS, one per execution environment: a private reply
 * queue (fresh UUID name, heartbeat tag for the sweeper, one-minute retention) and a single
 * poller that hands each reply to the request with its correlation id. The poller stops once no
 * request waits (a Lambda environment freezes between invocations), but never abandons a receive
 * in flight: SQS (and fauxqs, checked) hands the next message to the abandoned call and hides it
 * for the visibility timeout. Each receive waits no longer than the nearest deadline, and every
 * request settles by its deadline whatever SQS does.
 */
export class ReplyChannel {
  readonly #sqs: SQSClient;
  readonly #namePrefix: string;
  readonly #logger: Logger | undefined;
  readonly #revalidateAfterMs: number;
  readonly #pending = new Map<string, Pending>();
  #queueUrl: Promise<string> | undefined;
  #revalidating: Promise<string> | undefined;
  /** When the queue's heartbeat tag was last known fresh. */
  #taggedAt = 0;
  #polling = false;
  #receive: AbortController | undefined;

  constructor(options: ReplyChannelOptions) {
    // SQS names are at most 80 of [A-Za-z0-9_-]; fauxqs accepts longer ones, agents refuse to answer them.
    if (!/^[A-Za-z0-9_-]{1,44}$/.test(options.namePrefix)) throw new Error(`reply queue name prefix must be 1-44 of [A-Za-z0-9_-] (a UUID follows): ${options.namePrefix}`);
    this.#sqs = options.sqs;
    this.#namePrefix = options.namePrefix;
    this.#logger = options.logger;
    this.#revalidateAfterMs = options.revalidateAfterMs ?? REVALIDATE_AFTER_MS;
  }

  request(queueUrl: string, request: AgentRequest, deadlineAt: number): Promise<AgentReply> {
    const valid = AgentRequest.safeParse(request);
    if (!valid.success) return Promise.reject(new VmconsoleError('Internal', `refusing to send an invalid agent request: ${valid.error.issues[0]?.message ?? ''}`));
    const correlationId = randomUUID();
    const reply = new Promise<AgentReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = this.#settle(correlationId);
        pending?.reject(pending.sent
          ? new VmconsoleError('HostTimeout', 'no reply before the deadline')
          : new VmconsoleError('TransportUnavailable', 'The message queue service did not answer before the deadline. Try again shortly.'));
      }, Math.max(0, deadlineAt - Date.now()));
      this.#pending.set(correlationId, { resolve, reject, deadlineAt, replyTo: undefined, sent: false, timer });
    });
    void this.#send(correlationId, queueUrl, JSON.stringify(valid.data), deadlineAt);
    return reply;
  }

  /** Delete the reply queue and fail whatever still waits (tests, benchmarks, shutdown). */
  async close(): Promise<void> {
    this.#receive?.abort();
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(new VmconsoleError('TransportUnavailable', 'reply channel closed'));
    const queueUrl = await this.#queueUrl?.catch(() => undefined);
    this.#queueUrl = undefined;
    if (queueUrl) await this.#sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
  }

  async #send(correlationId: string, queueUrl: string, body: string, deadlineAt: number): Promise<void> {
    try {
      const replyTo = await this.#usableReplyQueue();
      const pending = this.#pending.get(correlationId);
      if (!pending) return;
      pending.replyTo = replyTo;
      // Listen before sending: a fast agent can answer before SendMessage returns.
      this.#poll();
      await this.#sqs.send(new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: {
          [ATTR.correlationId]: { DataType: 'String', StringValue: correlationId },
          [ATTR.replyTo]: { DataType: 'String', StringValue: replyTo },
          [ATTR.deadline]: { DataType: 'Number', StringValue: String(deadlineAt) },
        },
      }), { abortSignal: AbortSignal.timeout(Math.max(1, deadlineAt - Date.now())) });
      pending.sent = true;
    } catch (err) {
      const failure = isVmconsoleError(err) ? err
        : isMissingQueue(err) ? new VmconsoleError('HostDown', 'the compute host has no request queue (its agent never started or was removed)', { cause: err })
        : transportUnavailable(err, 'sending the request');
      this.#settle(correlationId)?.reject(failure);
    }
  }

  #replyQueue(): Promise<string> {
    this.#queueUrl ??= this.#sqs
      .send(new CreateQueueCommand({
        QueueName: `${this.#namePrefix}${randomUUID()}`,
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

  /**
   * The reply queue, with its heartbeat kept fresh: refreshed in the background while the
   * channel is busy; after a quiet spell long enough for the sweeper to have deleted it, checked
   * (by tagging it) before use, and replaced under a fresh name if it is gone.
   */
  async #usableReplyQueue(): Promise<string> {
    const current = this.#replyQueue();
    const queueUrl = await current;
    const quietMs = Date.now() - this.#taggedAt;
    if (quietMs < this.#revalidateAfterMs) {
      if (quietMs >= HEARTBEAT_EVERY_MS) {
        this.#taggedAt = Date.now();
        this.#tag(queueUrl).catch((err: unknown) => {
          this.#logger?.warn('reply queue heartbeat failed', { error: String(err) });
          if (isMissingQueue(err) && this.#queueUrl === current) this.#queueUrl = undefined;
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
        this.#logger?.info('reply queue was swept while idle; creating a new one', { queueUrl });
        if (this.#queueUrl === current) this.#queueUrl = undefined;
        return this.#replyQueue();
      })
      .finally(() => (this.#revalidating = undefined));
    return this.#revalidating;
  }

  #tag(queueUrl: string): Promise<unknown> {
    return this.#sqs.send(
      new TagQueueCommand({ QueueUrl: queueUrl, Tags: { [HEARTBEAT_TAG]: String(Date.now()) } }),
      { abortSignal: AbortSignal.timeout(QUEUE_CALL_TIMEOUT_MS) },
    );
  }

  #settle(correlationId: string): Pending | undefined {
    const pending = this.#pending.get(correlationId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.#pending.delete(correlationId);
    return pending;
  }

  #poll(): void {
    if (this.#polling) return;
    this.#polling = true;
    this.#pollLoop()
      .catch((err: unknown) => this.#logger?.error('reply poller failed', { error: String(err) }))
      .finally(() => {
        // Only a bug ends the loop with requests waiting: restart it rather than strand them.
        if (this.#pending.size > 0) setTimeout(() => this.#poll(), 50);
      });
  }

  /**
   * Runs while requests wait; every failure is logged and retried after a short backoff. The
   * flag drops in the same synchronous step as the last pending check, so a new request either
   * finds the loop running or starts a new one.
   */
  async #pollLoop(): Promise<void> {
    let backoffMs = 50;
    try {
      while (this.#pending.size > 0) {
        let queueUrl: string;
        try {
          queueUrl = await this.#replyQueue();
        } catch (err) {
          this.#logger?.warn('reply queue unavailable', { error: String(err) });
          await sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 1_000);
          continue;
        }
        const nearest = Math.min(...[...this.#pending.values()].map((p) => p.deadlineAt));
        const waitSeconds = Math.min(20, Math.max(1, Math.ceil((nearest - Date.now()) / 1000)));
        const receive = new AbortController();
        this.#receive = receive;
        let messages: Message[];
        try {
          const out = await this.#sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, MessageAttributeNames: [ATTR.correlationId] }),
            { abortSignal: AbortSignal.any([receive.signal, AbortSignal.timeout(waitSeconds * 1000 + RECEIVE_GRACE_MS)]) },
          );
          messages = out.Messages ?? [];
          backoffMs = 50;
        } catch (err) {
          if (receive.signal.aborted) return;
          if (isMissingQueue(err)) {
            // Swept or deleted: replies sent to it are lost, so fail those requests now; the next
            // request creates a queue under a fresh name (SQS refuses a deleted name for 60 s).
            this.#logger?.warn('reply queue disappeared; creating a new one', { queueUrl });
            if (this.#queueUrl && (await this.#queueUrl.catch(() => undefined)) === queueUrl) this.#queueUrl = undefined;
            for (const [id, pending] of [...this.#pending]) {
              if (pending.replyTo === queueUrl) this.#settle(id)?.reject(transportUnavailable(err, 'the reply queue disappeared'));
            }
            continue;
          }
          this.#logger?.warn('reply poll failed', { error: String(err) });
          await sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, 1_000);
          continue;
        }
        if (messages.length === 0) continue;
        for (const message of messages) this.#deliver(message);
        // Late, duplicate and malformed replies are deleted too: nobody will ever want them.
        this.#sqs.send(new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        })).catch((err: unknown) => this.#logger?.warn('deleting replies failed', { error: String(err) }));
      }
    } finally {
      this.#polling = false;
    }
  }

  #deliver(message: Message): void {
    const correlationId = message.MessageAttributes?.[ATTR.correlationId]?.StringValue;
    const pending = correlationId ? this.#settle(correlationId) : undefined;
    if (!pending) {
      this.#logger?.info('discarding a late or unknown reply', { correlationId });
      return;
    }
    let reply: AgentReply;
    try {
      reply = AgentReply.parse(JSON.parse(message.Body ?? ''));
    } catch (err) {
      this.#logger?.error('malformed reply', { correlationId, error: String(err) });
      pending.reject(new VmconsoleError('Internal', 'the compute host sent a malformed reply'));
      return;
    }
    pending.resolve(reply);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
