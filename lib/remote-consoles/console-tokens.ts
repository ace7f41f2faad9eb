import { createHash, randomUUID } from 'node:crypto';
import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { RemoteConsoleProtocol } from '../contracts/messages.ts';
import { HostName, ServerId } from '../contracts/records.ts';
import { ensureDynamoDbTable } from '../ensure-dynamodb-table.ts';
import { VmconsoleError } from '../errors.ts';

/** Nova's console types this service mints tokens for (the `type` of a remote console). */
export const ConsoleType = z.enum(['novnc', 'spice-html5', 'serial']);
export type ConsoleType = z.infer<typeof ConsoleType>;

/** Nova's [consoleauth] token_ttl default. */
export const DEFAULT_TOKEN_TTL_S = 600;

/**
 * What a console token grants, as stored (Nova's console_auth_tokens row): one console of one
 * server, on the host and port the host's agent gave when it was minted. The token itself is never
 * stored, only its SHA-256 (`pk`), so a table dump opens no console.
 */
export const ConsoleTokenRecord = z.object({
  pk: z.string().regex(/^[0-9a-f]{64}$/),
  serverId: ServerId,
  projectId: z.string().min(1).max(255),
  protocol: RemoteConsoleProtocol,
  consoleType: ConsoleType,
  host: HostName,
  port: z.number().int().min(0).max(65535),
  tlsPort: z.number().int().min(0).max(65535).nullable(),
  /** The base URL the token's URL was built on: the relay's origin check compares its scheme (Nova's verify_origin_proto). */
  accessUrlBase: z.string().min(1).max(2048),
  /** Epoch ms; the relay and the API check it on every use. */
  expiresAtMs: z.number().int(),
  /** Epoch seconds, for DynamoDB's TTL (which deletes up to days late: never trusted alone). */
  expiresAt: z.number().int(),
});
export type ConsoleTokenRecord = z.infer<typeof ConsoleTokenRecord>;
export type ConsoleGrant = Omit<ConsoleTokenRecord, 'pk' | 'expiresAtMs' | 'expiresAt'>;

/** The TTL attribute serverless.yml's ConsoleTokensTable declares. */
export const TOKEN_TTL_ATTRIBUTE = 'expiresAt';

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The table as serverless.yml's ConsoleTokensTable declares it (keep the two in step). */
export function consoleTokensTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  };
}

/** Local stacks and tests (CloudFormation owns the table in AWS; dynalite refuses TTL settings). */
export function ensureConsoleTokensTable(client: DynamoDBClient, tableName: string): Promise<void> {
  return ensureDynamoDbTable(client, consoleTokensTableDefinition(tableName));
}

function unavailable(err: unknown): never {
  throw new VmconsoleError('TransportUnavailable', 'The console token store is unavailable.', { detail: err instanceof Error ? err.message : String(err), cause: err });
}

/**
 * Console tokens (Nova's ConsoleAuthToken): minted by the API after the host named the console's
 * port, read by the relay on every connection. Reusable until they expire, as in Nova; expiry is
 * checked here on every read because DynamoDB's TTL deletes late.
 */
export class ConsoleTokens {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #now: () => number;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: { now?: () => number } = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#now = options.now ?? Date.now;
  }

  /** A new token for `grant`, valid `ttlS` seconds; the caller puts it in the URL, nobody stores it. */
  async mint(grant: ConsoleGrant, ttlS: number = DEFAULT_TOKEN_TTL_S): Promise<{ token: string; expiresAtMs: number }> {
    const token = randomUUID();
    const expiresAtMs = this.#now() + ttlS * 1000;
    const record: ConsoleTokenRecord = ConsoleTokenRecord.parse({ ...grant, pk: tokenHash(token), expiresAtMs, expiresAt: Math.ceil(expiresAtMs / 1000) });
    await this.#doc.send(new PutCommand({ TableName: this.#table, Item: record, ConditionExpression: 'attribute_not_exists(pk)' })).catch(unavailable);
    return { token, expiresAtMs };
  }

  /** The grant of a token that exists and has not expired; undefined for anything else (Nova's InvalidToken). */
  async validate(token: string): Promise<ConsoleTokenRecord | undefined> {
    // A UUID is 36 characters; anything far longer is not ours and is not worth hashing.
    if (token === '' || token.length > 256) return undefined;
    const pk = tokenHash(token);
    const { Item } = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk }, ConsistentRead: true })).catch(unavailable);
    if (!Item) return undefined;
    const parsed = ConsoleTokenRecord.safeParse(Item);
    if (!parsed.success || parsed.data.pk !== pk) return undefined;
    if (parsed.data.expiresAtMs <= this.#now()) return undefined;
    return parsed.data;
  }

  /** Forget a token whose server is gone or moved (found so on use). */
  async revoke(token: string): Promise<void> {
    await this.#doc.send(new DeleteCommand({ TableName: this.#table, Key: { pk: tokenHash(token) } })).catch(unavailable);
  }
}
