import { ChangeMessageVisibilityCommand, SendMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { AgentRequest, RequestKind } from '../contracts/messages.ts';
import { AnsweredRequests } from './answered-requests.ts';
import { DeleteBatcher } from './delete-batcher.ts';
import { decodeRequest, encodeReply, errorReply, okReply, type AgentReply, type ReplyErrorBody, type RequestEnvelope } from './envelope.ts';
import { HOST_QUEUE_VISIBILITY_S, MAX_RECEIVES_BEFORE_DLQ } from './host-queue.ts';
import { HostQueuePoller } from './host-queue-poller.ts';
import type { ReplyDestinations } from './queue-naming.ts';
import { isMissingQueue } from './sqs-errors.ts';
import { TypedEmitter } from './typed-emitter.ts';

export type RequestHandler = (request: AgentRequest, context: { deadline: number; signal: AbortSignal; requestId: string }) => Promise<unknown>;

interface Ids { correlationId: string; requestId: string }

/** What a responder reports; the agent logs (and later meters) from these. */
export interface ResponderEvents extends Record<string, unknown> {
  request_received: Ids & { kind: RequestKind; messageId: string | undefined };
  /** The handler failed: what the caller is told (`reply`) and what was thrown (`error`). */
  request_failed: Ids & { kind: RequestKind; reply: ReplyErrorBody; error: unknown };
  /** One per answered request: `outcome` is OK or the error code sent; `server` for single-server kinds. */
  replied: Ids & { kind: RequestKind; ok: boolean; outcome: string; server: string | undefined; ms: number; messageId: string | undefined };
  dropped: Ids & { reason: 'deadline' | 'reply queue gone' };
  duplicate: Ids;
  /** Never answered nor deleted: SQS moves it to the DLQ after a few receives. */
  poison: { messageId: string | undefined; reason: string; correlationId?: string; requestId?: string };
  receive_error: { error: unknown; retryInMs: number };
  /** Unexpected failure while answering: the message will be redelivered. */
  processing_error: { messageId: string | undefined; correlationId?: string; requestId?: string; error: unknown };
  /** A poison or failing message on its last receive: SQS moves it to the host's DLQ instead of delivering it again. */
  dead_lettered: { messageId: string | undefined; correlationId?: string; requestId?: string; receiveCount: number; reason: string };
  /** Changing visibility or deleting failed: at worst a redelivery, recognised as a duplicate. */
  queue_error: { action: 'ChangeMessageVisibility' | 'DeleteMessageBatch'; error: unknown };
  /** The host queue is gone (deleted, or SQS was reset); it is being re-created. */
  queue_missing: { queueUrl: string };
  queue_recreated: { queueUrl: string };
}

export interface ResponderOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Where replies may go (lib/transport/queue-naming.ts). */
  replyDestinations: ReplyDestinations;
  concurrency?: number;
  /** Must match the queue's VisibilityTimeout. */
  visibilityTimeoutS?: number;
  handle: RequestHandler;
  /** Re-creates the host queue when it disappears and returns its URL (the agent's ensureHostQueue). */
  recreateQueue?: () => Promise<string>;
  /** The newest protocol version answered (default PROTOCOL_VERSION); newer requests are poison, as to an old build. */
  protocolMax?: number;
}

/** A poison message is left for SQS to redeliver after this long; after 3 receives it is in the DLQ. */
const POISON_BACKOFF_S = 2;

/**
 * The agent's side of the transport: takes requests from the host queue poller (batches of up to
 * ten, bounded concurrency), extends visibility while slow work runs, aborts the work at the
 * request's deadline, replies on the caller's queue and deletes in batches. It logs nothing:
 * everything it does is an event.
 */
export class Responder extends TypedEmitter<ResponderEvents> {
  readonly #o: Required<Pick<ResponderOptions, 'sqs' | 'replyDestinations' | 'visibilityTimeoutS' | 'handle'>> & Pick<ResponderOptions, 'protocolMax'>;
  readonly #answered = new AnsweredRequests();
  readonly #poller: HostQueuePoller;
  readonly #deletes: DeleteBatcher;

  constructor(options: ResponderOptions) {
    super();
    this.#o = { visibilityTimeoutS: HOST_QUEUE_VISIBILITY_S, ...options };
    this.#poller = new HostQueuePoller({
      sqs: options.sqs,
      queueUrl: options.queueUrl,
      concurrency: options.concurrency ?? 16,
      ...(options.recreateQueue && { recreateQueue: options.recreateQueue }),
      onMessage: (message) => this.#process(message),
      onReceiveError: (error, retryInMs) => this.emit('receive_error', { error, retryInMs }),
      onQueueMissing: (queueUrl) => this.emit('queue_missing', { queueUrl }),
      onQueueRecreated: (queueUrl) => this.emit('queue_recreated', { queueUrl }),
    });
    this.#deletes = new DeleteBatcher(options.sqs, () => this.#poller.queueUrl, ({ error }) => this.emit('queue_error', { action: 'DeleteMessageBatch', error }));
  }

  get queueUrl(): string {
    return this.#poller.queueUrl;
  }

  start(): void {
    this.#poller.start();
  }

  /** Stop polling, finish the requests in flight, flush deletes. */
  async stop(): Promise<void> {
    await this.#poller.stop();
    await this.#deletes.flush();
  }

  async #process(message: Message): Promise<void> {
    let ids: Partial<Ids> = {};
    try {
      const decoded = decodeRequest(message, {
        isAllowedReplyDestination: (url) => this.#o.replyDestinations.isAllowedReplyDestination(url),
        ...(this.#o.protocolMax !== undefined && { protocolMax: this.#o.protocolMax }),
      });
      if (!decoded.ok) {
        const { ok: _, ...poison } = decoded;
        this.emit('poison', { messageId: message.MessageId, ...poison });
        this.#deadLetteredAfter(message, poison);
        await this.#changeVisibility(message, POISON_BACKOFF_S);
        return;
      }
      const { correlationId, requestId, deadline } = decoded;
      ids = { correlationId, requestId };
      if (Date.now() >= deadline) {
        this.emit('dropped', { correlationId, requestId, reason: 'deadline' });
        this.#deletes.delete(message.ReceiptHandle!);
        return;
      }
      if (this.#answered.isDuplicate(correlationId)) {
        this.emit('duplicate', { correlationId, requestId });
        this.#deletes.delete(message.ReceiptHandle!);
        return;
      }
      this.#answered.start(correlationId);
      try {
        await this.#answer(message, decoded);
      } finally {
        this.#answered.finish(correlationId);
      }
    } catch (error) {
      this.emit('processing_error', { messageId: message.MessageId, ...ids, error });
      this.#deadLetteredAfter(message, { ...ids, reason: `processing failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 300) });
    }
  }

  /** Reports a message that will not be delivered again: it has had its last receive before the DLQ. */
  #deadLetteredAfter(message: Message, about: { reason: string; correlationId?: string | undefined; requestId?: string | undefined }): void {
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount);
    if (!(receiveCount >= MAX_RECEIVES_BEFORE_DLQ)) return;
    this.emit('dead_lettered', {
      messageId: message.MessageId, receiveCount, reason: about.reason,
      ...(about.correlationId !== undefined && { correlationId: about.correlationId }),
      ...(about.requestId !== undefined && { requestId: about.requestId }),
    });
  }

  async #answer(message: Message, { request, correlationId, replyTo, deadline, requestId }: RequestEnvelope): Promise<void> {
    const started = Date.now();
    const ids = { correlationId, requestId };
    this.emit('request_received', { ...ids, kind: request.kind, messageId: message.MessageId });
    const reply = await this.#run(message, request, { ...ids, deadline });
    if (Date.now() >= deadline) {
      this.emit('dropped', { ...ids, reason: 'deadline' });
      this.#deletes.delete(message.ReceiptHandle!);
      return;
    }
    try {
      await this.#o.sqs.send(new SendMessageCommand({ QueueUrl: replyTo, ...encodeReply(correlationId, reply) }), {
        abortSignal: AbortSignal.timeout(Math.max(1, deadline - Date.now())), // nobody reads it later
      });
    } catch (err) {
      if (!isMissingQueue(err)) throw err;
      this.#answered.remember(correlationId);
      this.emit('dropped', { ...ids, reason: 'reply queue gone' });
      this.#deletes.delete(message.ReceiptHandle!);
      return;
    }
    this.#answered.remember(correlationId);
    this.emit('replied', {
      ...ids, kind: request.kind, ok: reply.ok, outcome: reply.ok ? 'OK' : reply.error.code,
      server: 'server' in request ? request.server.id : undefined, ms: Date.now() - started, messageId: message.MessageId,
    });
    this.#deletes.delete(message.ReceiptHandle!);
  }

  /** The handler's answer as a reply; the work is aborted at the deadline and kept hidden while it runs. */
  async #run(message: Message, request: AgentRequest, { correlationId, requestId, deadline }: Ids & { deadline: number }): Promise<AgentReply> {
    const abort = new AbortController();
    // Keep the message hidden while slow work runs, so no other agent starts it twice; not past the
    // deadline, when nobody wants the answer any more.
    const extend = setInterval(() => void this.#changeVisibility(message, this.#o.visibilityTimeoutS), (this.#o.visibilityTimeoutS * 1000) / 3);
    let expired: () => void = () => undefined;
    const deadlinePassed = new Promise<never>((_, reject) => {
      expired = () => reject(new Error('the request deadline passed'));
    });
    const expiry = setTimeout(() => {
      clearInterval(extend);
      abort.abort(new Error('the request deadline passed'));
      // A handler that ignores the signal (a hung file system) must not hold its slot for ever.
      expired();
    }, Math.max(0, deadline - Date.now()));
    try {
      // Answered in the request's version: a requester reads only the versions it speaks.
      return okReply(await Promise.race([this.#o.handle(request, { deadline, signal: abort.signal, requestId }), deadlinePassed]), request.v);
    } catch (error) {
      const reply = errorReply(error, request.v);
      this.emit('request_failed', { correlationId, requestId, kind: request.kind, reply: reply.error, error });
      return reply;
    } finally {
      clearTimeout(expiry);
      clearInterval(extend);
    }
  }

  async #changeVisibility(message: Message, seconds: number): Promise<void> {
    await this.#o.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.#poller.queueUrl, ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: seconds }))
      .catch((error: unknown) => this.emit('queue_error', { action: 'ChangeMessageVisibility', error }));
  }
}
