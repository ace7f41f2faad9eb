import { randomUUID } from 'node:crypto';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { AgentRequest } from '../contracts/messages.ts';
import { HostName } from '../contracts/records.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import { ATTRIBUTE, decodeReply, encodeRequest, requestAttributeProblem, type AgentReply } from './envelope.ts';
import { PendingRequests } from './pending-requests.ts';
import { accountUrlOf, hostQueueUrl, QUEUE_NAME_PREFIX, REPLY_NAME_PREFIX } from './queue-naming.ts';
import { ReplyQueue } from './reply-queue.ts';
import { isMissingQueue, transportUnavailable } from './sqs-errors.ts';
import { TypedEmitter } from './typed-emitter.ts';

/**
 * A long poll is answered by the end of its wait; one this much later rode a dead connection
 * (an environment frozen mid-receive and thawed, a dropped NAT entry) and is given up. Giving up
 * earlier could hand a reply to a receive nobody reads.
 */
const RECEIVE_GRACE_MS = 5_000;

/** What a requester reports; the application logs and meters from these. */
export interface RequesterEvents extends Record<string, unknown> {
  /** A reply nobody waits for any more (late, duplicate, or from before a restart): deleted. */
  reply_discarded: { correlationId: string | undefined };
  /** A reply that breaks the envelope: its request fails with Internal. */
  malformed_reply: { correlationId: string | undefined; reason: string };
  /** Receiving, deleting replies or creating the reply queue failed; retried with backoff. */
  receive_error: { error: unknown };
  reply_queue_heartbeat_error: { error: unknown };
  /** The reply queue was found gone; the requests that named it failed, the next gets a new one. */
  reply_queue_replaced: { queueUrl: string; why: string };
  /** A request settled: `outcome` is OK, the host's error code, or the transport's (HostTimeout, HostDown, ...). */
  request_settled: { host: string; kind: string; requestId: string; correlationId: string; outcome: string; ms: number };
}

export interface RequesterOptions {
  sqs: SQSClient;
  /** Name prefix of this requester's reply queue (a UUID follows). */
  replyQueuePrefix: string;
  /** Host queues are `<prefix><host>` in the requester's own account. */
  hostQueuePrefix: string;
  /** After this long without a heartbeat, check the reply queue still exists before sending on it. */
  revalidateAfterMs?: number;
}

export interface RequestOptions {
  /** Epoch ms: the request settles by then whatever SQS or the host do. */
  deadline: number;
  requestId: string;
}

/**
 * The requesting side of request/reply over SQS, one per execution environment: sends a request
 * to a host's queue (its URL derived from the host name, never taken from the directory) and
 * hands each reply to the request with its correlation id. A single poller reads the private
 * reply queue; it stops once no request waits (a Lambda environment freezes between invocations)
 * but never abandons a receive in flight: SQS (and fauxqs, checked) hands the next message to the
 * abandoned call and hides it for the visibility timeout. Each receive waits no longer than the
 * nearest deadline.
 */
export class Requester extends TypedEmitter<RequesterEvents> {
  readonly #sqs: SQSClient;
  readonly #hostQueuePrefix: string;
  readonly #replyQueue: ReplyQueue;
  readonly #pending = new PendingRequests();
  #polling = false;
  #receive: AbortController | undefined;

  constructor(options: RequesterOptions) {
    super();
    // SQS names are at most 80 of [A-Za-z0-9_-]; fauxqs accepts longer ones, agents refuse to answer them.
    if (!REPLY_NAME_PREFIX.test(options.replyQueuePrefix)) throw new Error(`reply queue name prefix must be 1-44 of [A-Za-z0-9_-] (a UUID follows): ${options.replyQueuePrefix}`);
    if (!QUEUE_NAME_PREFIX.test(options.hostQueuePrefix)) throw new Error(`host queue name prefix must be 1-40 of [A-Za-z0-9_-]: ${options.hostQueuePrefix}`);
    this.#sqs = options.sqs;
    this.#hostQueuePrefix = options.hostQueuePrefix;
    this.#replyQueue = new ReplyQueue(options.sqs, options.replyQueuePrefix, {
      heartbeatFailed: (error) => this.emit('reply_queue_heartbeat_error', { error }),
      replaced: (queueUrl, why) => {
        this.emit('reply_queue_replaced', { queueUrl, why });
        // Replies sent to a queue that is gone are lost: its requests fail now (503), not at their
        // deadline as if their host had been silent (504).
        this.#pending.rejectAll(transportUnavailable(new Error(`reply queue ${why}: ${queueUrl}`), 'the reply queue disappeared'), queueUrl);
      },
    }, options.revalidateAfterMs);
  }

  /** Send `request` to `host`'s queue; the host's reply (ok or not), or a transport failure. */
  request(host: string, request: AgentRequest, { deadline, requestId }: RequestOptions): Promise<AgentReply> {
    if (!HostName.safeParse(host).success) return Promise.reject(new VmconsoleError('Internal', 'refusing to send to an invalid host name', { detail: `host ${JSON.stringify(host.slice(0, 100))}` }));
    const valid = AgentRequest.safeParse(request);
    if (!valid.success) return Promise.reject(new VmconsoleError('Internal', 'refusing to send an invalid agent request', { detail: valid.error.issues[0]?.message }));
    const correlationId = randomUUID();
    const problem = requestAttributeProblem({ correlationId, requestId, deadline });
    if (problem) return Promise.reject(new VmconsoleError('Internal', 'refusing to send a request an agent would refuse', { detail: problem }));
    const started = Date.now();
    const reply = this.#pending.add(correlationId, deadline);
    const settled = (outcome: string) => this.emit('request_settled', { host, kind: valid.data.kind, requestId, correlationId, outcome, ms: Date.now() - started });
    reply.then((r) => settled(r.ok ? 'OK' : r.error.code), (err: unknown) => settled(isVmconsoleError(err) ? err.code : 'Internal'));
    void this.#send(host, correlationId, valid.data, { deadline, requestId });
    return reply;
  }

  /** Delete the reply queue and fail whatever still waits (tests, benchmarks, shutdown). */
  async close(): Promise<void> {
    this.#receive?.abort();
    this.#pending.rejectAll(new VmconsoleError('TransportUnavailable', 'The message queue service is unavailable. Try again shortly.', { detail: 'requester closed' }));
    await this.#replyQueue.delete();
  }

  async #send(host: string, correlationId: string, request: AgentRequest, { deadline, requestId }: RequestOptions): Promise<void> {
    let queueUrl: string | undefined;
    try {
      const replyTo = await this.#replyQueue.usable();
      if (!this.#pending.sending(correlationId, replyTo)) return;
      queueUrl = hostQueueUrl(accountUrlOf(replyTo), this.#hostQueuePrefix, host);
      // Listen before sending: a fast agent can answer before SendMessage returns.
      this.#poll();
      await this.#sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, ...encodeRequest({ request, correlationId, replyTo, deadline, requestId }) }), {
        abortSignal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      });
      this.#pending.sent(correlationId);
    } catch (err) {
      const failure = isVmconsoleError(err) ? err
        : isMissingQueue(err) ? new VmconsoleError('HostDown', 'The compute host of this server is down.', { detail: `host ${host} has no request queue ${queueUrl ?? ''} (its agent never started or was removed)`, cause: err })
        : transportUnavailable(err, `sending request ${requestId} to host ${host}`);
      this.#pending.take(correlationId)?.reject(failure);
    }
  }

  #poll(): void {
    if (this.#polling) return;
    this.#polling = true;
    this.#pollLoop()
      .catch((error: unknown) => this.emit('receive_error', { error }))
      .finally(() => {
        // Only a bug ends the loop with requests waiting: restart it rather than strand them.
        if (this.#pending.size > 0) setTimeout(() => this.#poll(), 50);
      });
  }

  /**
   * Runs while requests wait; every failure is reported and retried after a short backoff. The
   * flag drops in the same synchronous step as the last pending check, so a new request either
   * finds the loop running or starts a new one.
   */
  async #pollLoop(): Promise<void> {
    let backoffMs = 50;
    const backOff = async (error: unknown) => {
      this.emit('receive_error', { error });
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      backoffMs = Math.min(backoffMs * 2, 1_000);
    };
    try {
      while (this.#pending.size > 0) {
        let queueUrl: string;
        try {
          queueUrl = await this.#replyQueue.current();
        } catch (err) {
          await backOff(err);
          continue;
        }
        const waitSeconds = Math.min(20, Math.max(1, Math.ceil((this.#pending.nearestDeadline() - Date.now()) / 1000)));
        const receive = new AbortController();
        this.#receive = receive;
        let messages: Message[];
        try {
          const out = await this.#sqs.send(
            new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, MessageAttributeNames: [ATTRIBUTE.correlationId] }),
            { abortSignal: AbortSignal.any([receive.signal, AbortSignal.timeout(waitSeconds * 1000 + RECEIVE_GRACE_MS)]) },
          );
          messages = out.Messages ?? [];
          backoffMs = 50;
        } catch (err) {
          if (receive.signal.aborted) return;
          if (isMissingQueue(err)) {
            // Swept or deleted: replies sent to it are lost, so fail those requests now; the next
            // request creates a queue under a fresh name (SQS refuses a deleted name for 60 s).
            await this.#replyQueue.lost(queueUrl);
            continue;
          }
          await backOff(err);
          continue;
        }
        if (messages.length === 0) continue;
        for (const message of messages) this.#deliver(message);
        // Late, duplicate and malformed replies are deleted too: nobody will ever want them.
        this.#sqs.send(new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        })).catch((error: unknown) => this.emit('receive_error', { error }));
      }
    } finally {
      this.#polling = false;
    }
  }

  #deliver(message: Message): void {
    const decoded = decodeReply(message);
    const pending = decoded.correlationId ? this.#pending.take(decoded.correlationId) : undefined;
    if (!pending) {
      this.emit('reply_discarded', { correlationId: decoded.correlationId });
      return;
    }
    if (!decoded.ok) {
      this.emit('malformed_reply', { correlationId: decoded.correlationId, reason: decoded.reason });
      pending.reject(new VmconsoleError('Internal', 'The compute host sent a malformed reply.', { detail: decoded.reason }));
      return;
    }
    pending.resolve(decoded.reply);
  }
}
