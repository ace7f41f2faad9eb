import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { TypedEmitter } from '../transport/typed-emitter.ts';

/** What the poller reports; `npm start` logs from these, tests watch them. */
export interface RequestQueuePollerEvents extends Record<string, unknown> {
  /** An invocation ended: these records are deleted, the failed ones left to be received again. */
  invoked: { records: number; failed: string[]; ms: number };
  /** The invocation itself failed (no batch response): every record is left to be received again. */
  invoke_error: { records: number; error: unknown };
  receive_error: { error: unknown; retryInMs: number };
  queue_error: { action: 'DeleteMessageBatch' | 'ChangeMessageVisibilityBatch'; error: unknown };
}

export interface RequestQueuePollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  /** Runs the SQS-triggered function on one batch (serverless-offline's Lambda endpoint, or the handler). */
  invoke(event: SQSEvent): Promise<SQSBatchResponse>;
  /** The queue's VisibilityTimeout: records are kept hidden while their invocation runs. */
  visibilityTimeoutS: number;
  /** Records per invocation (1-10), as the function's `batchSize`. */
  batchSize?: number;
  /** Invocations running at once. */
  concurrency?: number;
  region?: string;
}

/**
 * Lambda's SQS event source mapping, locally: long-polls the request queue, invokes the function
 * with a batch, and deletes only the records not named in `batchItemFailures` (serverless-offline-sqs
 * deletes the whole batch, which would lose what the function asked to retry). Failed records come
 * back after the visibility timeout and reach the DLQ through the queue's redrive policy, as in AWS.
 */
export class RequestQueuePoller extends TypedEmitter<RequestQueuePollerEvents> {
  readonly #o: Required<Omit<RequestQueuePollerOptions, 'region'>> & { region: string };
  readonly #stopping = new AbortController();
  readonly #running = new Set<Promise<void>>();
  #loop: Promise<void> | undefined;

  constructor(options: RequestQueuePollerOptions) {
    super();
    const batchSize = options.batchSize ?? 10;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) throw new Error(`batchSize must be 1-10, got ${batchSize}`);
    if (!(options.visibilityTimeoutS >= 1)) throw new Error(`visibilityTimeoutS must be at least 1, got ${options.visibilityTimeoutS}`);
    this.#o = { batchSize, concurrency: 4, region: 'us-east-1', ...options };
  }

  start(): void {
    this.#loop ??= this.#poll();
  }

  /**
   * Stop receiving and wait for the invocations in flight, at most `graceMs`: a batch still running
   * after that (a router waiting out a silent host) is left to come back after the visibility
   * timeout, as when Lambda's poller stops; Ctrl-C must not wait a minute.
   */
  async stop(graceMs = 3_000): Promise<void> {
    this.#stopping.abort();
    await this.#loop;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.#running), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  async #poll(): Promise<void> {
    let backoffMs = 100;
    while (!this.#stopping.signal.aborted) {
      while (this.#running.size >= this.#o.concurrency) await Promise.race(this.#running);
      let messages: Message[];
      try {
        const out = await this.#o.sqs.send(new ReceiveMessageCommand({
          QueueUrl: this.#o.queueUrl, MaxNumberOfMessages: this.#o.batchSize, WaitTimeSeconds: 20,
          MessageSystemAttributeNames: ['All'], MessageAttributeNames: ['All'],
        }), { abortSignal: this.#stopping.signal });
        messages = out.Messages ?? [];
        backoffMs = 100;
      } catch (error) {
        if (this.#stopping.signal.aborted) return;
        this.emit('receive_error', { error, retryInMs: backoffMs });
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 5_000);
        continue;
      }
      if (messages.length === 0) continue;
      const run = this.#process(messages).finally(() => this.#running.delete(run));
      this.#running.add(run);
    }
  }

  async #process(messages: Message[]): Promise<void> {
    const started = Date.now();
    const { queueUrl, visibilityTimeoutS } = this.#o;
    // Keep the batch hidden while the function works on it, as Lambda's poller does.
    const extend = setInterval(() => {
      this.#o.sqs.send(new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: visibilityTimeoutS })),
      })).catch((error: unknown) => this.emit('queue_error', { action: 'ChangeMessageVisibilityBatch', error }));
    }, (visibilityTimeoutS * 1000) / 3);
    let response: SQSBatchResponse;
    try {
      response = await this.#o.invoke({ Records: messages.map((m) => this.#record(m)) });
      if (!response || !Array.isArray(response.batchItemFailures)) throw new Error(`the function returned no batch response: ${JSON.stringify(response)?.slice(0, 300)}`);
    } catch (error) {
      this.emit('invoke_error', { records: messages.length, error });
      return;
    } finally {
      clearInterval(extend);
    }
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length > 0) {
      await this.#o.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }))
        .catch((error: unknown) => this.emit('queue_error', { action: 'DeleteMessageBatch', error }));
    }
    this.emit('invoked', { records: messages.length, failed: [...failed], ms: Date.now() - started });
  }

  /** The record as Lambda's event source mapping builds it. */
  #record(m: Message): SQSRecord {
    const attributes = m.Attributes ?? {};
    return {
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? '',
      attributes: {
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
        SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
        SenderId: attributes.SenderId ?? 'local',
        ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([name, a]) => [name, {
        dataType: a.DataType!, ...(a.StringValue !== undefined && { stringValue: a.StringValue }),
      }])),
      md5OfBody: m.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.#o.queueArn,
      awsRegion: this.#o.region,
    };
  }
}

/** Invokes a function through serverless-offline's Lambda Invoke API (lambdaPort). */
export function invokeThroughOffline(lambdaUrl: string, functionName: string): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return async (event) => {
    const res = await fetch(`${lambdaUrl}/2015-03-31/functions/${functionName}/invocations`, { method: 'POST', body: JSON.stringify(event), headers: { 'Content-Type': 'application/json' } });
    const text = await res.text();
    if (res.status !== 200 || res.headers.get('x-amz-function-error')) throw new Error(`invoking ${functionName} answered ${res.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as SQSBatchResponse;
  };
}
