import { VmconsoleError } from '../errors.ts';

/** SQS answered that the queue is gone (deleted, never created, or swept). */
export function isMissingQueue(err: unknown): boolean {
  const name = (err as { name?: string; Code?: string } | undefined)?.name ?? '';
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue' || name === 'NonExistentQueue';
}

/** CreateQueue refused: the name exists with other attributes (SQS's error name varies by protocol). */
export function isQueueNameTaken(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name ?? '';
  return name.endsWith('QueueNameExists') || name.endsWith('QueueAlreadyExists');
}

/**
 * Everything else from SQS is, for our callers, "the transport is unavailable right now". The SDK's
 * text (`connect ECONNREFUSED 127.0.0.1:...`, an AccessDenied naming the account and role) is
 * operator detail, never the message.
 */
export function transportUnavailable(err: unknown, doing: string): VmconsoleError {
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new VmconsoleError('TransportUnavailable', 'The message queue service is unavailable. Try again shortly.', { detail: `${doing}: ${reason.slice(0, 500)}`, cause: err });
}
