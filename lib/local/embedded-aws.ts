import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startFauxqs } from 'fauxqs';
import dynalite from 'dynalite';

/** The two AWS services vmconsole uses, embedded in this process: fauxqs (SQS) and dynalite (DynamoDB). */
export interface EmbeddedAws {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  /** Take SQS away (fault injection); `startSqs` brings it back on the same port. */
  stopSqs(): Promise<void>;
  startSqs(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `sqsDataDir` makes fauxqs persist its queues (SQLite), so SQS can be stopped and started again on
 * the same port with its queues intact, as a real outage would leave them.
 */
export async function startEmbeddedAws(options: { sqsPort?: number; dynamodbPort?: number; sqsDataDir?: string } = {}): Promise<EmbeddedAws> {
  let sqs = await startFauxqs({ port: options.sqsPort ?? 0, host: '127.0.0.1', logger: false, ...(options.sqsDataDir && { dataDir: options.sqsDataDir }) });
  const sqsPort = sqs.port;
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  dynamo.listen(options.dynamodbPort ?? 0, '127.0.0.1');
  await once(dynamo, 'listening');
  const { port: dynamodbPort } = dynamo.address() as AddressInfo;
  return {
    sqsEndpoint: `http://127.0.0.1:${sqsPort}`,
    dynamodbEndpoint: `http://127.0.0.1:${dynamodbPort}`,
    async stopSqs() {
      await sqs.stop();
    },
    async startSqs() {
      sqs = await startFauxqs({ port: sqsPort, host: '127.0.0.1', logger: false, ...(options.sqsDataDir && { dataDir: options.sqsDataDir }) });
    },
    async stop() {
      await Promise.allSettled([sqs.stop(), new Promise<void>((resolve) => dynamo.close(() => resolve()))]);
    },
  };
}
