import { Directory } from '../directory/directory.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { createLogger, type Logger } from '../logger.ts';
import { ConsoleTokens } from '../remote-consoles/console-tokens.ts';
import { logRequesterEvents } from '../transport/log-requester-events.ts';
import { Requester } from '../transport/requester.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { readRelayConfig } from './relay-config.ts';
import { ConsoleRelay, type RelayAddresses } from './relay-server.ts';

export interface RunningRelay {
  relay: ConsoleRelay;
  addresses: RelayAddresses;
  stop(): Promise<void>;
}

/**
 * The relay with its real dependencies, from an environment (relay-config.ts lists it): the token
 * table and the directory in DynamoDB, and a requester of its own (its reply queue under the
 * edge's reply prefix, which agents already answer).
 */
export async function startRelay(env: NodeJS.ProcessEnv = process.env, options: { logger?: Logger } = {}): Promise<RunningRelay> {
  const config = readRelayConfig(env);
  const logger = options.logger ?? createLogger('vmconsole-relay');
  const doc = createDocumentClient(env);
  const requester = logRequesterEvents(
    new Requester({ sqs: createSqsClient(env), replyQueuePrefix: config.replyQueuePrefix, hostQueuePrefix: config.hostQueuePrefix }),
    logger,
  );
  const relay = new ConsoleRelay(config, {
    tokens: new ConsoleTokens(doc, config.tokensTable),
    // No server cache: a server deleted or moved must stop opening consoles at once.
    directory: new Directory(doc, config.directoryTable, { logger, hostCacheMs: 1_000 }),
    requester,
    logger,
  });
  relay
    .on('session_refused', (e) => logger.info('console session refused', e))
    .on('session_opened', (e) => logger.info('console session opened', e))
    .on('session_closed', (e) => logger.info('console session closed', { ...e }))
    .on('tunnel_refused', (e) => logger.warn('tunnel dial refused', e));
  const addresses = await relay.start();
  return {
    relay,
    addresses,
    async stop() {
      await relay.close();
      await requester.close();
    },
  };
}

// `node lib/relay/main.ts` (npm run relay): run until SIGTERM/SIGINT; the first line on stdout is
// the listeners' addresses as JSON, for whoever started it.
if (import.meta.main) {
  const running = await startRelay().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  });
  process.stdout.write(`${JSON.stringify({ relay: running.addresses })}\n`);
  const stop = () => void running.stop().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
