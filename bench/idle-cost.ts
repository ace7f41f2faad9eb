import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_COMMAND } from '../lib/agent/agent-command.ts';
import { enrolHost } from '../lib/agent/enrol-host.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from '../lib/directory/host-liveness.ts';
import { writeDemoInstances } from '../lib/local/demo-servers.ts';
import { prepareEmbeddedEnv, startEmbeddedAws } from '../lib/local/embedded-aws.ts';
import { createDocumentClient } from '../lib/directory/dynamodb-client.ts';
import { Directory } from '../lib/directory/directory.ts';
import { startCountingProxy, type SqsCallCounts } from './sqs-counting-proxy.ts';

/**
 * us-east-1 list prices, checked 2026-11-30.
 * SQS standard queue, per million requests (each 64 KB chunk is one request), beyond the free
 * first million a month: https://aws.amazon.com/sqs/pricing/
 */
export const SQS_PER_MILLION_REQUESTS = 0.40;
/**
 * DynamoDB on-demand, Standard table class, per million write / read request units, since AWS
 * halved on-demand prices on 2024-11-01 (formerly $1.25 / $0.25):
 * https://aws.amazon.com/dynamodb/pricing/on-demand/
 */
export const DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625;
export const DYNAMODB_PER_MILLION_READ_UNITS = 0.125;
/** DynamoDB provisioned capacity, per WCU-hour: https://aws.amazon.com/dynamodb/pricing/provisioned/ */
export const DYNAMODB_PER_WCU_HOUR = 0.00065;

const MONTH_S = 30 * 24 * 3600;
/** Half of SQS's 20 s long poll, and of any heartbeat period the agent allows in multiples of 20 s. */
const SETTLE_MS = 10_000;
const HOURS_PER_MONTH = 730;
const DYNAMODB_WRITES = ['PutItem', 'DeleteItem', 'UpdateItem', 'BatchWriteItem'];
const DYNAMODB_READS = ['GetItem', 'Query', 'Scan', 'BatchGetItem'];

export interface IdleCost {
  windowS: number;
  heartbeatMs: number;
  /** API calls counted during the window, by action. */
  sqsCalls: Record<string, number>;
  dynamodbCalls: Record<string, number>;
  perMonth: { sqsRequests: number; dynamodbWriteUnits: number; dynamodbReadUnits: number };
  dollarsPerMonth: { sqs: number; dynamodbWrites: number; dynamodbReads: number; total: number };
  /** The heartbeat writes' share of a provisioned table instead (whole WCUs are bought per table, for the fleet). */
  provisionedHeartbeatDollarsPerMonth: number;
}

/**
 * What one idle agent costs a month: a real agent process (files driver, demo instances, default
 * heartbeat unless `heartbeatMs` is given) against fauxqs + dynalite, each behind a counting proxy;
 * the calls it makes in `windowMs` after registering, extrapolated to a 30-day month. A host item
 * is far below 1 KB (1 write unit per write) and an idle host's Query returns a few servers (half a
 * read unit, eventually consistent); a host with many servers pays half a unit per 4 KB returned.
 */
export async function benchIdleCost(options: { windowMs?: number; heartbeatMs?: number } = {}): Promise<IdleCost> {
  // Six long polls (20 s) and three heartbeats (40 s) fit 120 s exactly: whole counts, little phase error.
  const windowMs = options.windowMs ?? 120_000;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const aws = await startEmbeddedAws();
  const sqsProxy = await startCountingProxy(aws.sqsEndpoint);
  const dynamoProxy = await startCountingProxy(aws.dynamodbEndpoint);
  const work = await mkdtemp(join(tmpdir(), 'vmconsole-idle-'));
  const instancesDir = join(work, 'instances');
  await writeDemoInstances(instancesDir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(await prepareEmbeddedEnv(aws, 'idle')),
    VMCONSOLE_SQS_ENDPOINT: sqsProxy.endpoint,
    VMCONSOLE_DYNAMODB_ENDPOINT: dynamoProxy.endpoint,
    VMCONSOLE_HOST: 'idle-host',
    VMCONSOLE_DRIVER: 'files',
    VMCONSOLE_INSTANCES_DIR: instancesDir,
    VMCONSOLE_LOG_ROOTS: instancesDir,
    VMCONSOLE_HEARTBEAT_MS: String(heartbeatMs),
    // As deployed: the stack's registrar turns inventories into server records; a local agent
    // (registrar=agent) would also read its inventory and its server records at every sync.
    VMCONSOLE_REGISTRAR: 'stack',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  const directory = new Directory(createDocumentClient({ ...env, VMCONSOLE_DYNAMODB_ENDPOINT: aws.dynamodbEndpoint }), env.VMCONSOLE_TABLE!);
  // Enrolment is the operator's, not the agent's: straight to fauxqs, uncounted.
  await enrolHost({ ...env, VMCONSOLE_SQS_ENDPOINT: aws.sqsEndpoint }, { host: 'idle-host', hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX! });
  const agent = spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    while (!(await directory.getHost('idle-host'))) {
      if (agent.exitCode !== null) throw new Error(`agent exited with ${agent.exitCode}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Start-up (queue creation, first inventory) is paid once, not monthly. Counting starts half a
    // poll after registration so no periodic call falls on the window's edges.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    sqsProxy.reset();
    dynamoProxy.reset();
    await new Promise((r) => setTimeout(r, windowMs));
    const sqs = sqsProxy.snapshot();
    const dynamodb = dynamoProxy.snapshot();
    return costOf(windowMs / 1000, heartbeatMs, sqs, dynamodb);
  } finally {
    agent.kill('SIGTERM');
    await once(agent, 'exit');
    await Promise.all([sqsProxy.close(), dynamoProxy.close()]);
    await aws.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function costOf(windowS: number, heartbeatMs: number, sqs: SqsCallCounts, dynamodb: SqsCallCounts): IdleCost {
  const dynamodbCalls = Object.fromEntries(Object.entries(dynamodb.calls).map(([target, n]) => [target.replace(/^DynamoDB_\d+\./, ''), n]));
  const count = (names: string[]) => names.reduce((n, name) => n + (dynamodbCalls[name] ?? 0), 0);
  const toMonth = MONTH_S / windowS;
  const perMonth = {
    sqsRequests: sqs.billedChunks * toMonth,
    dynamodbWriteUnits: count(DYNAMODB_WRITES) * toMonth,
    dynamodbReadUnits: count(DYNAMODB_READS) * 0.5 * toMonth,
  };
  const dollars = {
    sqs: perMonth.sqsRequests * SQS_PER_MILLION_REQUESTS / 1e6,
    dynamodbWrites: perMonth.dynamodbWriteUnits * DYNAMODB_PER_MILLION_WRITE_UNITS / 1e6,
    dynamodbReads: perMonth.dynamodbReadUnits * DYNAMODB_PER_MILLION_READ_UNITS / 1e6,
  };
  return {
    windowS,
    heartbeatMs,
    sqsCalls: sqs.calls,
    dynamodbCalls,
    perMonth,
    dollarsPerMonth: { ...dollars, total: dollars.sqs + dollars.dynamodbWrites + dollars.dynamodbReads },
    provisionedHeartbeatDollarsPerMonth: (1000 / heartbeatMs) * DYNAMODB_PER_WCU_HOUR * HOURS_PER_MONTH,
  };
}
