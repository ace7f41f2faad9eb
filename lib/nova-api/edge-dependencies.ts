import { Directory } from '../directory/directory.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { createLogger } from '../logger.ts';
import { ReplyChannel } from '../transport/reply-channel.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { readEdgeConfig } from './edge-config.ts';

/**
 * The SDK clients, directory and reply channel of one execution environment. Functions create
 * them at module scope, so warm invocations reuse connections and the reply queue.
 */
export function createDirectory(env: NodeJS.ProcessEnv = process.env): Directory {
  return new Directory(createDocumentClient(env), readEdgeConfig(env).tableName, createLogger('vmconsole-directory'));
}

export function createConsoleDependencies(env: NodeJS.ProcessEnv = process.env) {
  const config = readEdgeConfig(env);
  return {
    directory: createDirectory(env),
    replyChannel: new ReplyChannel({ sqs: createSqsClient(env), namePrefix: config.replyQueuePrefix, logger: createLogger('vmconsole-reply-channel') }),
    replyTimeoutMs: config.replyTimeoutMs,
  };
}
