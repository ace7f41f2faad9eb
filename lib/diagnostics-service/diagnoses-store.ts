import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { VmconsoleError } from '../errors.ts';
import type { DiagnosisRecord } from './diagnosis-record.ts';
import { TTL_ATTRIBUTE } from './diagnoses-table.ts';

const DIAGNOSIS = 'd#';
const CRASH = 'k#';

/** A diagnosis's sort key, as the API's opaque `marker` carries it. */
export const DIAGNOSIS_SORT_KEY = /^d#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f-]{36}$/;

export const diagnosisSortKey = (r: Pick<DiagnosisRecord, 'createdAt' | 'id'>) => `${DIAGNOSIS}${r.createdAt}#${r.id}`;

export type ClaimResult =
  /** The first diagnosis of this crash: stored now. */
  | { created: true; record: DiagnosisRecord }
  /** This crash was diagnosed before: the stored diagnosis. */
  | { created: false; record: DiagnosisRecord };

export interface Page {
  records: DiagnosisRecord[];
  /** The last sort key returned, when more may follow. */
  after?: string;
}

/** DynamoDB unreachable or throttling: a 503 for the API, a retried record for the queue. */
function unavailable(err: unknown): never {
  if (err instanceof ConditionalCheckFailedException) throw err;
  throw new VmconsoleError('TransportUnavailable', 'The diagnoses table is unavailable.', { detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err), cause: err });
}

/**
 * The diagnoses table (diagnoses-table.ts): history per server, one diagnosis per crash, and the
 * "published" mark the publish-later rule works from. Expired items are never returned, whether
 * DynamoDB's TTL deleted them yet or not.
 */
export class DiagnosesStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionS: number;
  readonly #now: () => number;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: { retentionDays: number; now?: () => number }) {
    this.#doc = doc;
    this.#table = tableName;
    this.#retentionS = Math.round(options.retentionDays * 86_400);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Store `record` unless its crash (`crashKey`) was stored already; then return that one. The
   * crash item is put first, conditionally: of any number of racing invocations exactly one wins.
   * The diagnosis item follows; a loser that finds it missing (the winner between its two puts,
   * or dead there) puts its own copy under the winner's key, conditionally, so one exists.
   */
  async claim(record: DiagnosisRecord, crashKey: string): Promise<ClaimResult> {
    const sk = diagnosisSortKey(record);
    const expiresAt = Math.floor(Date.parse(record.createdAt) / 1000) + this.#retentionS;
    const crashSk = `${CRASH}${crashKey}`;
    try {
      await this.#doc.send(new PutCommand({
        TableName: this.#table,
        Item: { pk: record.serverId, sk: crashSk, diagnosisSk: sk, [TTL_ATTRIBUTE]: expiresAt },
        // An expired crash item (TTL not applied yet) no longer counts: the crash may be diagnosed again.
        ConditionExpression: 'attribute_not_exists(pk) OR #ttl < :now',
        ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
        ExpressionAttributeValues: { ':now': this.#nowS() },
      }));
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) unavailable(err);
      const { Item } = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk: record.serverId, sk: crashSk }, ConsistentRead: true })).catch(unavailable);
      const winnerSk = String(Item?.diagnosisSk ?? sk);
      const stored = await this.#get(record.serverId, winnerSk);
      if (stored) return { created: false, record: stored };
      const [, createdAt, id] = /^d#(.+)#([^#]+)$/.exec(winnerSk) ?? [];
      const copy: DiagnosisRecord = { ...record, id: id ?? record.id, createdAt: createdAt ?? record.createdAt };
      await this.#putDiagnosis(copy, expiresAt);
      return { created: false, record: (await this.#get(record.serverId, winnerSk)) ?? copy };
    }
    await this.#putDiagnosis(record, expiresAt);
    return { created: true, record };
  }

  /** Newest first; `after` is the previous page's last sort key. Expired diagnoses end the list. */
  async list(serverId: string, { limit, after }: { limit: number; after?: string }): Promise<Page> {
    const { Items = [], LastEvaluatedKey } = await this.#doc.send(new QueryCommand({
      TableName: this.#table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :d)',
      ExpressionAttributeValues: { ':pk': serverId, ':d': DIAGNOSIS },
      ScanIndexForward: false,
      Limit: limit,
      ...(after !== undefined && { ExclusiveStartKey: { pk: serverId, sk: after } }),
    })).catch(unavailable);
    const records: DiagnosisRecord[] = [];
    for (const item of Items) {
      // Every diagnosis lives as long (createdAt + retention): past the first expired one, all are.
      if (this.#expired(item)) return { records };
      records.push(fromItem(item));
    }
    const last = records.at(-1);
    return LastEvaluatedKey && last ? { records, after: diagnosisSortKey(last) } : { records };
  }

  /** The newest diagnoses of a server not published yet (publish-later). */
  async unpublished(serverId: string, scan = 20): Promise<DiagnosisRecord[]> {
    const { records } = await this.list(serverId, { limit: scan });
    return records.filter((r) => !r.published);
  }

  /**
   * Take the right to publish `record` for `leaseMs`: one invocation publishes at a time, and a
   * publisher that died without saying so is replaced after its lease. False: published already,
   * or someone else holds the lease.
   */
  async claimPublish(record: DiagnosisRecord, leaseMs: number): Promise<boolean> {
    const now = this.#now();
    try {
      await this.#doc.send(new UpdateCommand({
        TableName: this.#table,
        Key: { pk: record.serverId, sk: diagnosisSortKey(record) },
        UpdateExpression: 'SET publishLeaseUntil = :until',
        ConditionExpression: 'attribute_exists(pk) AND published = :false AND (attribute_not_exists(publishLeaseUntil) OR publishLeaseUntil < :now)',
        ExpressionAttributeValues: { ':until': now + leaseMs, ':now': now, ':false': false },
      }));
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      unavailable(err);
    }
  }

  async markPublished(record: DiagnosisRecord, publishedAt: string): Promise<void> {
    await this.#doc.send(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: record.serverId, sk: diagnosisSortKey(record) },
      UpdateExpression: 'SET published = :true, publishedAt = :at REMOVE publishLeaseUntil',
      ExpressionAttributeValues: { ':true': true, ':at': publishedAt },
    })).catch(unavailable);
  }

  async attachScreenshot(record: DiagnosisRecord, screenshot: NonNullable<DiagnosisRecord['screenshot']>): Promise<void> {
    await this.#doc.send(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: record.serverId, sk: diagnosisSortKey(record) },
      UpdateExpression: 'SET screenshot = :s',
      ExpressionAttributeValues: { ':s': screenshot },
    })).catch(unavailable);
  }

  /** Publishing failed: let the next attempt take the lease at once. */
  async releasePublish(record: DiagnosisRecord): Promise<void> {
    await this.#doc.send(new UpdateCommand({
      TableName: this.#table,
      Key: { pk: record.serverId, sk: diagnosisSortKey(record) },
      UpdateExpression: 'REMOVE publishLeaseUntil',
    })).catch(unavailable);
  }

  async #get(serverId: string, sk: string): Promise<DiagnosisRecord | undefined> {
    const { Item } = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk: serverId, sk }, ConsistentRead: true })).catch(unavailable);
    return Item && !this.#expired(Item) ? fromItem(Item) : undefined;
  }

  async #putDiagnosis(record: DiagnosisRecord, expiresAt: number): Promise<void> {
    const sk = diagnosisSortKey(record);
    try {
      await this.#doc.send(new PutCommand({
        TableName: this.#table,
        Item: { pk: record.serverId, sk, ...toItem(record), [TTL_ATTRIBUTE]: expiresAt },
        ConditionExpression: 'attribute_not_exists(pk)',
      }));
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) unavailable(err);
    }
  }

  #nowS(): number {
    return Math.floor(this.#now() / 1000);
  }

  #expired(item: Record<string, unknown>): boolean {
    const at = item[TTL_ATTRIBUTE];
    return typeof at === 'number' && at <= this.#nowS();
  }
}

/** The diagnosis itself is stored as JSON text: its nested arrays cost nothing to read back as they were written. */
function toItem(record: DiagnosisRecord): Record<string, unknown> {
  const { diagnosis, ...rest } = record;
  return { ...rest, category: diagnosis.category, severity: diagnosis.severity, diagnosisJson: JSON.stringify(diagnosis) };
}

function fromItem(item: Record<string, unknown>): DiagnosisRecord {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, diagnosisJson, category: _c, severity: _s, publishLeaseUntil: _l, diagnosisSk: _d, ...rest } = item;
  return { ...(rest as Omit<DiagnosisRecord, 'diagnosis'>), diagnosis: JSON.parse(String(diagnosisJson)) } as DiagnosisRecord;
}
