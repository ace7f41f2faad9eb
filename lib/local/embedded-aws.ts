import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { startFauxqs } from 'fauxqs';
import dynalite from 'dynalite';

/** The two AWS services vmconsole uses, embedded in this process: fauxqs (SQS) and dynalite (DynamoDB). */
export interface EmbeddedAws {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  stop(): Promise<void>;
}

export async function startEmbeddedAws(options: { sqsPort?: number; dynamodbPort?: number } = {}): Promise<EmbeddedAws> {
  const sqs = await startFauxqs({ port: options.sqsPort ?? 0, host: '127.0.0.1', logger: false });
  const dynamo = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  dynamo.listen(options.dynamodbPort ?? 0, '127.0.0.1');
  await once(dynamo, 'listening');
  const { port: dynamodbPort } = dynamo.address() as AddressInfo;
  return {
    sqsEndpoint: `http://127.0.0.1:${sqs.port}`,
    dynamodbEndpoint: `http://127.0.0.1:${dynamodbPort}`,
    async stop() {
      await Promise.allSettled([sqs.stop(), new Promise<void>((resolve) => dynamo.close(() => resolve()))]);
    },
  };
}
