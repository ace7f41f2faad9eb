import { DeleteMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** How long a delete waits for others to share its DeleteMessageBatch. */
const DELETE_BATCH_MS = 20;

/**
 * Deletes handled messages in batches of up to ten (one billed request): a delete waits up to
 * DELETE_BATCH_MS for company. The reply has already gone out, so this costs the caller no
 * latency; a failed delete only means a redelivery, recognised as a duplicate.
 */
export class DeleteBatcher {
  readonly #sqs: SQSClient;
  readonly #queueUrl: () => string;
  readonly #onFailure: (failure: { failed: number; error: unknown }) => void;
  #entries: string[] = [];
  #scheduled = false;

  constructor(sqs: SQSClient, queueUrl: () => string, onFailure: (failure: { failed: number; error: unknown }) => void) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
    this.#onFailure = onFailure;
  }

  delete(receiptHandle: string): void {
    this.#entries.push(receiptHandle);
    if (this.#entries.length >= 10) {
      void this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => void this.flush(), DELETE_BATCH_MS);
    }
  }

  async flush(): Promise<void> {
    this.#scheduled = false;
    const handles = this.#entries.splice(0, this.#entries.length);
    for (let i = 0; i < handles.length; i += 10) {
      const Entries = handles.slice(i, i + 10).map((ReceiptHandle, n) => ({ Id: String(n), ReceiptHandle }));
      await this.#sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.#queueUrl(), Entries }))
        .then(({ Failed }) => {
          if (Failed?.length) this.#onFailure({ failed: Failed.length, error: Failed[0]?.Message });
        })
        .catch((error: unknown) => this.#onFailure({ failed: Entries.length, error }));
    }
  }
}
