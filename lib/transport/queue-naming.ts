import { randomUUID } from 'node:crypto';
import { QUEUE_URL } from '../contracts/records.ts';

/**
 * Queue names and the rules for where replies may go, in one place.
 *
 * - A host's request queue is `<host queue prefix><host>`, its dead-letter queue that plus `-dlq`.
 * - A requester's reply queue is `<reply queue prefix><uuid>` (a fresh name each time: SQS refuses a
 *   deleted name for 60 s).
 * - A requester derives a host's queue URL from the host NAME and its own configuration (prefix,
 *   and the account URL of its own queues), never from a URL an agent wrote into the directory.
 * - An agent sends replies only to queue URLs under one of its allowed reply destination prefixes
 *   (the HTTP edge's reply queues today; automation clients' queues next).
 */

/** A name prefix: what SQS allows in names, short enough for what follows it. */
export const QUEUE_NAME_PREFIX = /^[A-Za-z0-9_-]{1,40}$/;
/** The reply queue name prefix leaves room for the 36-character UUID in SQS's 80-character names. */
export const REPLY_NAME_PREFIX = /^[A-Za-z0-9_-]{1,44}$/;
/**
 * `scheme://host[:port]/account/` followed by a name prefix. Never empty: an empty one would let
 * replies go to every queue of the account, host queues and dead-letter queues included.
 */
export const QUEUE_URL_PREFIX = /^https?:\/\/[A-Za-z0-9.-]{1,253}(?::\d{1,5})?\/[A-Za-z0-9]{1,32}\/[A-Za-z0-9_-]{1,44}$/;

export function hostQueueName(prefix: string, host: string): string {
  return `${prefix}${host}`;
}

export function deadLetterQueueName(queueName: string): string {
  return `${queueName}-dlq`;
}

export function replyQueueName(prefix: string): string {
  return `${prefix}${randomUUID()}`;
}

/** `https://sqs.us-east-1.amazonaws.com/123456789012/` for any queue URL of that account. */
export function accountUrlOf(queueUrl: string): string {
  if (!QUEUE_URL.test(queueUrl)) throw new Error(`not an SQS queue URL: ${queueUrl.slice(0, 200)}`);
  return queueUrl.slice(0, queueUrl.lastIndexOf('/') + 1);
}

/** The URL of a host's request queue in the given account: the same in SQS whenever the queue is (re)created. */
export function hostQueueUrl(accountUrl: string, prefix: string, host: string): string {
  return `${accountUrl}${hostQueueName(prefix, host)}`;
}

/**
 * Where an agent may send replies: exactly a queue URL (no `..`, query, fragment or credentials
 * fit the shape) that starts with one of the allowed prefixes and names a queue after it.
 */
export class ReplyDestinations {
  readonly prefixes: readonly string[];

  /** `hostQueuePrefix`: no allowed destination may name a host's queue (a reply would be read as a request). */
  constructor(prefixes: readonly string[], hostQueuePrefix?: string) {
    if (prefixes.length === 0) throw new Error('at least one allowed reply destination prefix is required');
    for (const prefix of prefixes) {
      if (!QUEUE_URL_PREFIX.test(prefix)) throw new Error(`invalid reply queue URL prefix: ${prefix.slice(0, 200)}`);
      const name = prefix.slice(prefix.lastIndexOf('/') + 1);
      if (hostQueuePrefix !== undefined && (name.startsWith(hostQueuePrefix) || hostQueuePrefix.startsWith(name))) {
        throw new Error(`reply queue URL prefix ${prefix} overlaps the host queue prefix ${hostQueuePrefix}`);
      }
    }
    this.prefixes = [...prefixes];
  }

  /** The HTTP edge's reply queues: `<account URL of our own queue><reply name prefix>`. */
  static forEdgeReplies(ownQueueUrl: string, replyNamePrefix: string): string {
    return `${accountUrlOf(ownQueueUrl)}${replyNamePrefix}`;
  }

  isAllowedReplyDestination(url: string): boolean {
    return QUEUE_URL.test(url) && this.prefixes.some((prefix) => url.startsWith(prefix) && url.length > prefix.length);
  }
}
