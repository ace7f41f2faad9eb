import type { DynamoDBStreamEvent } from 'aws-lambda';
import { createDocumentClient } from '../lib/directory/dynamodb-client.ts';
import { Directory } from '../lib/directory/directory.ts';
import { Registrar } from '../lib/directory/registrar.ts';
import { createLogger, type Logger } from '../lib/logger.ts';

export type StreamHandler = (event: DynamoDBStreamEvent) => Promise<void>;

/** `host#<name>` (a heartbeat) or `inventory#<name>` (what the host runs): the host that wrote it. */
export function hostOfKey(pk: string | undefined): string | undefined {
  const match = /^(?:host|inventory)#(.+)$/.exec(pk ?? '');
  return match?.[1];
}

/**
 * Triggered by the directory table's stream (host items only, serverless.yml): each host that
 * wrote is registered once per batch (lib/directory/registrar.ts). The key of a stream record is
 * the proof of who wrote it: IAM lets a host write only items keyed by its own name. A heartbeat
 * triggers a registration too, which is how a claim refused while another host ran the server is
 * retried. Registration is idempotent: a failed batch is simply retried.
 */
export function createHandler(registrar: Registrar, logger: Logger): StreamHandler {
  return async (event) => {
    const hosts = new Set(event.Records.map((r) => hostOfKey(r.dynamodb?.Keys?.pk?.S)).filter((h) => h !== undefined));
    for (const host of hosts) {
      const result = await registrar.register(host);
      if (result.written + result.removed + result.refused > 0) logger.info('inventory registered', { host, ...result });
    }
  };
}

let built: StreamHandler | undefined;

/** Dependencies are built on the first invocation, not at import: importing this module reads no environment. */
export const handler: StreamHandler = (event) => (built ??= build())(event);

function build(): StreamHandler {
  const table = process.env.VMCONSOLE_TABLE;
  if (!table) throw new Error('VMCONSOLE_TABLE is required');
  const logger = createLogger('vmconsole-registrar');
  return createHandler(new Registrar(new Directory(createDocumentClient(), table, { logger }), logger), logger);
}
