import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand, DeleteMessageBatchCommand, DeleteQueueCommand, ReceiveMessageCommand, SendMessageCommand, TagQueueCommand,
  type Message, type SQSClient,
} from '@aws-sdk/client-sqs';
import { AgentReply, AgentRequest, ATTR } from '../contracts/messages.ts';
import { VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { isMissingQueue, transportUnavailable } from './sqs-errors.ts';

export const HEARTBEAT_TAG = 'vmconsole:heartbeat';
const TAG_EVERY_MS = 60_000;

interface Pending {
  resolve(reply: AgentReply): void;
  reject(err: Error): void;
  deadlineAt: number;
  /** The reply queue named in the request: if that queue is lost, so is the reply. */
  replyTo: string;
  timer: NodeJS.Timeout;
}

/**
 * The edge's side of request/reply over SQS, one per execution environment: a private reply
 * queue (fresh UUID name, heartbeat tag for the sweeper, one-minute retention) and a single
 * poller that hands each reply to the request with its correlation id. The poller stops once no
 * request waits (a Lambda environment freezes between invocations), but never abandons a receive
 * in flight: SQS would hand the next reply to the abandoned call and hide it for the visibility
 * timeout. Each receive waits no longer than the nearest deadline.
 */
export class ReplyChannel {
  readonly #sqs: SQSClient;
  readonly #namePrefix: string;
  readonly #logger: Logger | undefined;
  readonly #pending = new Map<string, Pending>();
  #queueUrl: Promise<string> | undefined;
  #taggedAt = 0;
  #polling = false;
  #receive: AbortController | undefined;

  constructor(options: { sqs: SQSClient; namePrefix: string; logger?: Logger }) {
    this.#sqs = options.sqs;
    this.#namePrefix = options.namePrefix;
    this.#logger = options.logger;
  }

  async request(queueUrl: string, request: AgentRequest, deadlineAt: number): Promise<AgentReply> {
    const valid = AgentRequest.safeParse(request);
    if (!valid.success) throw new VmconsoleError('Internal', `refusing to send an invalid agent request: ${valid.error.issues[0]?.message ?? ''}`);
    const body = JSON.stringify(valid.data);
    const replyTo = await this.#replyQueue();
    const correlationId = randomUUID();
    const reply = new Promise<AgentReply>((resolve, reject) => {
      const timer = setTimeout(() => this.#settle(correlationId)?.reject(new VmconsoleError('HostTimeout', 'no reply before the deadline')), Math.max(0, deadlineAt - Date.now()));
      this.#pending.set(correlationId, { resolve, reject, deadlineAt, replyTo, timer });
    });
    // Listen before sending: a fast agent can answer before SendMessage returns.
    this.#poll();
    try {
      await this.#sqs.send(new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes: {
          [ATTR.correlationId]: { DataType: 'String', StringValue: correlationId },
          [ATTR.replyTo]: { DataType: 'String', StringValue: replyTo },
          [ATTR.deadline]: { DataType: 'Number', StringValue: String(deadlineAt) },
        },
      }));
    } catch (err) {
      const failure = isMissingQueue(err)
        ? new VmconsoleError('HostDown', 'the compute host has no request queue (its agent never started or was removed)', { cause: err })
        : transportUnavailable(err, 'sending the request');
      this.#settle(correlationId)?.reject(failure);
    }
    this.#heartbeat(replyTo);
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

  #replyQueue(): Promise<string> {
    this.#queueUrl ??= this.#sqs
      .send(new CreateQueueCommand({
        QueueName: `${this.#namePrefix}${randomUUID()}`,
        Attributes: { MessageRetentionPeriod: '60', ReceiveMessageWaitTimeSeconds: '0' },
        tags: { [HEARTBEAT_TAG]: String(Date.now()) },
      }))
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

  #heartbeat(queueUrl: string): void {
    if (Date.now() - this.#taggedAt < TAG_EVERY_MS) return;
    this.#taggedAt = Date.now();
    this.#sqs.send(new TagQueueCommand({ QueueUrl: queueUrl, Tags: { [HEARTBEAT_TAG]: String(this.#taggedAt) } }))
      .catch((err: unknown) => this.#logger?.warn('reply queue heartbeat failed', { error: String(err) }));
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
            { abortSignal: receive.signal },
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
