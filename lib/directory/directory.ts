import { BatchWriteCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HostInventory, HostRecord, ServerRecord } from '../contracts/records.ts';
import { VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { filterByName } from './name-filter.ts';
import { TtlCache } from './ttl-cache.ts';

const serverKey = (id: string) => `server#${id.toLowerCase()}`;
const hostKey = (host: string) => `host#${host}`;
const inventoryKey = (host: string) => `inventory#${host}`;

const isConditionFailure = (err: unknown) => (err as { name?: string }).name === 'ConditionalCheckFailedException';

/**
 * Where servers and hosts are: host items written by each host's agent, server records by the
 * registrar (lib/directory/registrar.ts), all read by the edge. Items are validated on the
 * way out, so a corrupt or foreign item is skipped and logged, never served.
 * Host items keep their name in `hostName`, not `host`, so they never appear in `byHost`.
 */
export class Directory {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #logger: Logger | undefined;
  readonly #hosts: TtlCache<HostRecord | undefined>;
  readonly #servers: TtlCache<ServerRecord>;

  /**
   * `hostCacheMs`: how long the edge may reuse a host record. Hosts change only at heartbeats, so
   * a one-second cache saves a read per console request at no cost in accuracy.
   * `serverCacheMs`: how long the edge may reuse a server record it found. The GetItem was half of
   * what a console request costs the edge beyond the queue itself (npm run bench, issue 8); a
   * second of staleness is within the agent's own inventory lag. Misses are never cached, so a
   * server that just appeared is found at once.
   */
  constructor(doc: DynamoDBDocumentClient, tableName: string, options: { logger?: Logger; hostCacheMs?: number; serverCacheMs?: number } = {}) {
    this.#doc = doc;
    this.#table = tableName;
    this.#logger = options.logger;
    this.#hosts = new TtlCache(options.hostCacheMs ?? 0);
    this.#servers = new TtlCache(options.serverCacheMs ?? 0);
  }

  async getServer(id: string): Promise<ServerRecord | undefined> {
    const key = id.toLowerCase();
    const cached = this.#servers.get(key);
    if (cached) return cached.value;
    const { Item } = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk: serverKey(id) } })).catch(unavailable);
    const record = Item ? this.#parse(ServerRecord, Item) : undefined;
    if (record) this.#servers.set(key, record);
    return record;
  }

  /**
   * A host's servers (Query byHost), a project's (Query byProject), or everyone's for admins
   * (Scan); the project narrows a host's list, `name` filters like Nova.
   */
  async findServers(query: { projectId?: string; name?: string; host?: string }): Promise<ServerRecord[]> {
    if (query.host !== undefined) {
      const onHost = (await this.serversOnHost(query.host)).filter((s) => query.projectId === undefined || s.projectId === query.projectId);
      return query.name === undefined ? onHost : filterByName(onHost, query.name);
    }
    const items = query.projectId !== undefined
      ? await this.#all((ExclusiveStartKey) => new QueryCommand({
          TableName: this.#table, IndexName: 'byProject', KeyConditionExpression: 'projectId = :p',
          ExpressionAttributeValues: { ':p': query.projectId }, ExclusiveStartKey,
        }))
      : await this.#all((ExclusiveStartKey) => new ScanCommand({
          TableName: this.#table, FilterExpression: 'begins_with(pk, :s)', ExpressionAttributeValues: { ':s': 'server#' }, ExclusiveStartKey,
        }));
    const servers = items.map((item) => this.#parse(ServerRecord, item)).filter((s) => s !== undefined);
    return query.name === undefined ? servers : filterByName(servers, query.name);
  }

  async serversOnHost(host: string): Promise<ServerRecord[]> {
    const items = await this.#all((ExclusiveStartKey) => new QueryCommand({
      TableName: this.#table, IndexName: 'byHost', KeyConditionExpression: 'host = :h',
      ExpressionAttributeValues: { ':h': host }, ExclusiveStartKey,
    }));
    return items.map((item) => this.#parse(ServerRecord, item)).filter((s) => s !== undefined);
  }

  /**
   * Unconditional writes, for seeding a directory (tests, fixtures). Hosts' servers go through the
   * registrar (claimServer, takeOverServer, releaseServer), which never overwrites a live host's.
   */
  async putServers(records: readonly ServerRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 25) {
      let requests = records.slice(i, i + 25).map((r) => ({ PutRequest: { Item: { pk: serverKey(r.id), ...r, id: r.id.toLowerCase() } } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 8) throw new Error(`directory: ${requests.length} server writes still unprocessed`);
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
        const { UnprocessedItems } = await this.#doc.send(new BatchWriteCommand({ RequestItems: { [this.#table]: requests } })).catch(unavailable);
        requests = (UnprocessedItems?.[this.#table] ?? []) as typeof requests;
      }
    }
  }

  /**
   * Write a server record unless another host holds it: refused, the record as it stands is
   * returned. Only the registrar calls this (agents hold no write permission on server records).
   */
  async claimServer(record: ServerRecord): Promise<{ claimed: true } | { claimed: false; holder: ServerRecord | undefined }> {
    try {
      await this.#doc.send(new PutCommand({
        TableName: this.#table, Item: { pk: serverKey(record.id), ...record, id: record.id.toLowerCase() },
        ConditionExpression: 'attribute_not_exists(pk) OR host = :me', ExpressionAttributeValues: { ':me': record.host },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }));
      return { claimed: true };
    } catch (err) {
      if (!isConditionFailure(err)) unavailable(err);
      // DynamoDB returns the item that failed the condition; emulators may not: then read it.
      const item = (err as { Item?: Record<string, unknown> }).Item
        ?? (await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk: serverKey(record.id) }, ConsistentRead: true })).catch(unavailable)).Item;
      // Undefined: the record vanished or is corrupt between the two looks; the next registration retries.
      return { claimed: false, holder: item ? this.#parse(ServerRecord, item) : undefined };
    }
  }

  /** Take a server over from `holder`, only if the record is still exactly the one judged (no race with its host). */
  async takeOverServer(record: ServerRecord, holder: ServerRecord): Promise<boolean> {
    try {
      await this.#doc.send(new PutCommand({
        TableName: this.#table, Item: { pk: serverKey(record.id), ...record, id: record.id.toLowerCase() },
        ConditionExpression: 'host = :h AND updatedAt = :u', ExpressionAttributeValues: { ':h': holder.host, ':u': holder.updatedAt },
      }));
      return true;
    } catch (err) {
      if (!isConditionFailure(err)) unavailable(err);
      return false;
    }
  }

  /**
   * Note on the record that `claimant` wants a server `holder` keeps. Returns what was noted
   * before, so the registrar logs a conflict once per streak, not at every claim.
   */
  async markContested(id: string, holder: string, claimant: string, at: number): Promise<{ contestedBy?: string; contestedAt?: number } | undefined> {
    try {
      const { Attributes } = await this.#doc.send(new UpdateCommand({
        TableName: this.#table, Key: { pk: serverKey(id) },
        UpdateExpression: 'SET contestedBy = :c, contestedAt = :t',
        ConditionExpression: 'host = :h', ExpressionAttributeValues: { ':c': claimant, ':t': at, ':h': holder },
        ReturnValues: 'UPDATED_OLD',
      }));
      return { contestedBy: Attributes?.contestedBy as string | undefined, contestedAt: Attributes?.contestedAt as number | undefined };
    } catch (err) {
      if (!isConditionFailure(err)) unavailable(err);
      return undefined;
    }
  }

  /** Delete a server record only while it names `host`; what it said about a claimant waiting for it. */
  async releaseServer(host: string, id: string): Promise<{ released: boolean; contestedBy?: string }> {
    try {
      const { Attributes } = await this.#doc.send(new DeleteCommand({
        TableName: this.#table, Key: { pk: serverKey(id) },
        ConditionExpression: 'host = :h', ExpressionAttributeValues: { ':h': host }, ReturnValues: 'ALL_OLD',
      }));
      return { released: true, ...(typeof Attributes?.contestedBy === 'string' && { contestedBy: Attributes.contestedBy }) };
    } catch (err) {
      if (!isConditionFailure(err)) unavailable(err);
      return { released: false };
    }
  }

  /**
   * A host's inventory: the servers it says it runs, in an item of its own (`inventory#<host>`),
   * which IAM lets only that host write (dynamodb:LeadingKeys, serverless.yml AgentPolicy).
   */
  async putInventory(inventory: HostInventory): Promise<void> {
    const { host, ...rest } = inventory;
    await this.#doc.send(new PutCommand({ TableName: this.#table, Item: { pk: inventoryKey(host), hostName: host, ...rest } })).catch(unavailable);
  }

  async getInventory(host: string): Promise<HostInventory | undefined> {
    const { Item } = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk: inventoryKey(host) }, ConsistentRead: true })).catch(unavailable);
    if (!Item) return undefined;
    const { hostName, ...rest } = Item;
    return this.#parse(HostInventory, { ...rest, host: hostName });
  }

  async putHost(record: HostRecord): Promise<void> {
    const { host, ...rest } = record;
    await this.#doc.send(new PutCommand({ TableName: this.#table, Item: { pk: hostKey(host), hostName: host, ...rest } })).catch(unavailable);
  }

  async getHost(host: string): Promise<HostRecord | undefined> {
    const cached = this.#hosts.get(host);
    if (cached) return cached.value;
    const { Item } = await this.#doc.send(new GetCommand({ TableName: this.#table, Key: { pk: hostKey(host) } })).catch(unavailable);
    let record: HostRecord | undefined;
    if (Item) {
      const { hostName, ...rest } = Item;
      record = this.#parse(HostRecord, { ...rest, host: hostName });
    }
    this.#hosts.set(host, record);
    return record;
  }

  /** Every host record (a Scan: os-services, admins only, a fleet of hundreds at most). */
  async listHosts(): Promise<HostRecord[]> {
    const items = await this.#all((ExclusiveStartKey) => new ScanCommand({
      TableName: this.#table, FilterExpression: 'begins_with(pk, :h)', ExpressionAttributeValues: { ':h': 'host#' }, ExclusiveStartKey,
    }));
    return items
      .map(({ hostName, ...rest }) => this.#parse(HostRecord, { ...rest, host: hostName }))
      .filter((h) => h !== undefined)
      .sort((a, b) => a.host.localeCompare(b.host));
  }

  async #all(command: (start: Record<string, unknown> | undefined) => QueryCommand | ScanCommand): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.#doc.send(command(start)).catch(unavailable);
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  #parse<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: unknown } }, item: Record<string, unknown>): T | undefined {
    const parsed = schema.safeParse(item);
    if (parsed.success) return parsed.data;
    this.#logger?.warn('directory: skipping an invalid item', { pk: item.pk, error: String(parsed.error) });
    return undefined;
  }
}

/**
 * DynamoDB out of reach (network, throttling, its own 5xx) is an outage the caller can wait out:
 * 503. Anything else (a missing table, a rejected expression) is a bug or a misconfiguration
 * and stays as it is, to surface as a 500 with the details in the log.
 */
function unavailable(err: unknown): never {
  const e = err as { $fault?: string; $metadata?: { httpStatusCode?: number }; name?: string; message?: string };
  const transient = e.$fault === 'server' || e.$metadata?.httpStatusCode === undefined || /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded/.test(e.name ?? '');
  if (!transient) throw err;
  // SDK text (endpoints, account ids, role ARNs) is operator detail.
  throw new VmconsoleError('TransportUnavailable', 'The server directory is unavailable. Try again shortly.', { detail: `DynamoDB: ${String(e.name ?? '')} ${String(e.message ?? err).slice(0, 200)}`.trim(), cause: err });
}
