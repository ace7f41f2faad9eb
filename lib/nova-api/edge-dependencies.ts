import { Directory } from '../directory/directory.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { createLogger } from '../logger.ts';
import { logRequesterEvents } from '../transport/log-requester-events.ts';
import { Requester } from '../transport/requester.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { readEdgeConfig } from './edge-config.ts';

/**
 * The SDK clients, directory and requester of one execution environment. Functions create
 * them at module scope, so warm invocations reuse connections and the reply queue.
 */
export function createDirectory(env: NodeJS.ProcessEnv = process.env, hostCacheMs = 0): Directory {
  return new Directory(createDocumentClient(env), readEdgeConfig(env).tableName, { logger: createLogger('vmconsole-directory'), hostCacheMs });
}

export function createConsoleDependencies(env: NodeJS.ProcessEnv = process.env) {
  const config = readEdgeConfig(env);
  return {
    // Host records change only at heartbeats (10 s): reuse them for a second, saving a read per request.
    directory: createDirectory(env, 1_000),
    requester: logRequesterEvents(
      new Requester({ sqs: createSqsClient(env), replyQueuePrefix: config.replyQueuePrefix, hostQueuePrefix: config.hostQueuePrefix }),
      createLogger('vmconsole-requester'),
    ),
    replyTimeoutMs: config.replyTimeoutMs,
  };
}
