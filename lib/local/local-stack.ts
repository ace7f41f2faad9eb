import type { ChildProcess } from 'node:child_process';
import { appendFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { awsClientOptions } from '../aws-client-options.ts';
import { ensureDiagnosticsResources } from '../diagnostics-service/local-resources.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { accountUrlOf, hostQueueName, ReplyDestinations } from '../transport/queue-naming.ts';
import { ensureRequestQueue, requestQueueName } from '../transport/request-queue.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { prepareEmbeddedEnv, startEmbeddedAws, type EmbeddedAws } from './embedded-aws.ts';
import { DEMO_SERVERS, writeDemoInstances } from './demo-servers.ts';
import { AGENT_COMMAND } from '../agent/agent-command.ts';
import { enrolHost } from '../agent/enrol-host.ts';
import { ensureHistoryBucket, historyBucketName } from '../history/s3-client.ts';
import { describeProcess, portListeners } from './processes.ts';
import { claimStack, type StackLock } from './stack-lock.ts';
import { readStackEnv, writeStackEnv } from './stack-env.ts';
import { superviseChildren } from './supervised-children.ts';
import { startLocalRelay } from './console-relay-process.ts';
import type { RelayAddresses } from '../relay/relay-server.ts';
import { invokeThroughOffline, RequestQueuePoller } from './request-queue-poller.ts';

import { freePort } from './ports.ts';

export { freePort };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OSLS = join(ROOT, 'node_modules/osls/bin/serverless.js');
/** How an agent process is started: as `npm run agent` and the installed bin do (lib/agent/agent-command.ts). */
export { AGENT_COMMAND };

/**
 * serverless-offline runs each concurrent invocation of a function in a new worker thread that
 * loads the bundle from scratch, without bound: 32 concurrent server lists cost 32 cold starts
 * (1.8 GB, most past their timeout). In process, each function's module is loaded once and
 * serves every invocation, as the edge's requester is built to (it demultiplexes replies).
 * Its own Lambda timeout is off because it answers a timeout with HTTP 200 and the error as the
 * body (payload 2.0); the handlers still see their configured time left and answer 504 in time.
 */
const OFFLINE_FLAGS = ['--useInProcess', '--noTimeout'];

/** The tags a deployed stage puts on its resources (serverless.yml resourceTags), for the queues enrolment creates. */
const LOCAL_QUEUE_TAGS = 'service=vmconsole,stage=local,component=edge';

/** The router function as serverless-offline names it (`<service>-<stage>-<function>`). */
const ROUTER_FUNCTION = 'vmconsole-local-routeConsoleRequests';
/** The diagnose function (crash diagnostics), fed from the events queue the same way. */
const DIAGNOSE_FUNCTION = 'vmconsole-local-diagnoseConsole';
/**
 * Short, because the poller keeps a batch hidden while the router works on it: a record the router
 * failed comes back within seconds (and reaches the DLQ after three receives) instead of minutes.
 */
const LOCAL_REQUEST_VISIBILITY_S = 5;

export interface LocalStackOptions {
  /** HTTP API port; 0 picks a free one. */
  httpPort?: number;
  /** Where demo instances live; defaults to .vmconsole/demo under the project. */
  workDir?: string;
  /** The work dir and port already claimed (npm start claims them before loading the stack). */
  claim?: StackLock;
  replyTimeoutMs?: number;
  heartbeatMs?: number;
  authMode?: 'noauth' | 'jwt';
  /** Persist SQS queues here, so tests can take SQS away and bring it back with its queues. */
  sqsDataDir?: string;
  /** Overrides for the agent's environment, e.g. the libvirt driver for system tests. */
  agentEnv?: Record<string, string>;
  jwtSecret?: string;
  /** The console relay's listeners; free ports when not given. */
  relayPorts?: Partial<Record<'novnc' | 'spice' | 'serial' | 'tunnel', number>>;
  /** More edge environment, over the rest: keystone mode's VMCONSOLE_KEYSTONE_* in tests (the CLI's Keystone tests). */
  edgeEnv?: Record<string, string>;
}

export interface LocalStack {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:4000 (the Nova endpoint is `${url}/v2.1`). */
  url: string;
  aws: EmbeddedAws;
  /** What another agent needs to join this stack: the contents of `envFile`. */
  env: Record<string, string>;
  /** `env $(cat <envFile>) VMCONSOLE_HOST=... npm run agent` joins an agent to this stack. */
  envFile: string;
  host: string;
  instancesDir: string;
  directory: Directory;
  demoServers: typeof DEMO_SERVERS;
  agent: ChildProcess;
  /** Where the children's output goes: agent.log, offline.log. */
  workDir: string;
  /** Queue-driven automation: the request queue (fed to the router by a local poller) and its DLQ. */
  requestQueueUrl: string;
  requestDlqUrl: string;
  /** Clients' reply queues must be named under this URL prefix (the agents and the router allow it). */
  clientReplyUrlPrefix: string;
  poller: RequestQueuePoller;
  /** Crash diagnostics: the events queue (fed to the diagnose function by a local poller), its DLQ, the topic and table. */
  eventsQueueUrl: string;
  eventsDlqUrl: string;
  diagnosesTopicArn: string;
  diagnosesTable: string;
  eventsPoller: RequestQueuePoller;
  /** The console relay (remote consoles): its listeners; its output goes to relay.log. */
  relay: RelayAddresses;
  /**
   * Start one more agent process (e.g. after killing one) from the env file, as a user would;
   * by default the demo host over the demo instances. Resolves once it is serving.
   */
  startAgent(extraEnv?: Record<string, string>): Promise<ChildProcess>;
  stop(): Promise<void>;
}

/** The last lines of a child's log, for an error that says why a start failed. */
async function logTail(file: string, lines = 25): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return tail ? `last lines of ${file}:\n${tail}` : `${file} is empty`;
}

/**
 * The whole system on one machine, started the same way for `npm start` and for the tests:
 * embedded fauxqs + dynalite, one host agent (files driver over real boot logs), and the HTTP
 * API through osls + serverless-offline running the real handlers. The children die with this
 * process however it ends (see supervised-children.ts).
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const claim = options.claim ?? (await claimStack(options.workDir ?? join(ROOT, '.vmconsole/demo'), options.httpPort ?? 0));
  const { workDir, port: httpPort, stackId } = claim;
  if (claim.cleaned.length > 0) console.warn(`vmconsole: stopped process groups ${claim.cleaned.join(', ')} left running by a stack that died in ${workDir}`);
  const instancesDir = join(workDir, 'instances');
  const envFile = join(workDir, 'stack.env');
  const agentLog = join(workDir, 'agent.log');
  const offlineLog = join(workDir, 'offline.log');
  // serverless-esbuild builds under the project; stacks started side by side must not share it.
  const esbuildFolder = `.esbuild/stack-${stackId.slice(0, 8)}`;

  const children = superviseChildren();
  let aws: EmbeddedAws | undefined;
  let poller: RequestQueuePoller | undefined;
  let eventsPoller: RequestQueuePoller | undefined;
  let sqs: ReturnType<typeof createSqsClient> | undefined;
  let sns: SNSClient | undefined;
  const stop = async () => {
    await Promise.all([poller?.stop(), eventsPoller?.stop()]);
    sqs?.destroy();
    sns?.destroy();
    await children.stop();
    await aws?.stop();
    await rm(join(ROOT, esbuildFolder), { recursive: true, force: true });
    await rm(envFile, { force: true });
    claim.release();
  };
  const spawn = (command: string, args: readonly string[], env: Record<string, string>, logFile: string) => {
    const child = children.spawn(command, args, { cwd: ROOT, env: { ...env, VMCONSOLE_STACK_ID: stackId }, logFile });
    claim.update({ groups: [...children.groups] });
    return child;
  };
  try {
    await writeDemoInstances(instancesDir);
    aws = await startEmbeddedAws(options.sqsDataDir === undefined ? {} : { sqsDataDir: options.sqsDataDir });
    const host = options.agentEnv?.VMCONSOLE_HOST ?? 'demo-host-1';
    const baseEnv = await prepareEmbeddedEnv(aws, 'local');
    // The edge stays at WARN (a line per request otherwise); the agent says at least that it started.
    const logLevel = (fallback: string) => process.env.POWERTOOLS_LOG_LEVEL ?? fallback;
    const directory = new Directory(createDocumentClient({ ...process.env, ...baseEnv }), baseEnv.VMCONSOLE_TABLE!);
    sqs = createSqsClient(baseEnv);
    const requestQueue = await ensureRequestQueue(sqs, { name: requestQueueName('vmconsole', 'local'), visibilityTimeoutS: LOCAL_REQUEST_VISIBILITY_S });
    // Crash diagnostics: fauxqs serves SNS on the SQS endpoint.
    sns = new SNSClient(awsClientOptions(aws.sqsEndpoint, baseEnv));
    const dynamodb = new DynamoDBClient(awsClientOptions(aws.dynamodbEndpoint, baseEnv));
    const s3 = new S3Client({ ...awsClientOptions(aws.sqsEndpoint, baseEnv), forcePathStyle: true });
    const diagnostics = await ensureDiagnosticsResources({ sqs, sns, dynamodb, s3 }, { service: 'vmconsole', stage: 'local', visibilityTimeoutS: LOCAL_REQUEST_VISIBILITY_S })
      .then(async (resources) => ({ ...resources, historyBucket: await ensureHistoryBucket(s3, historyBucketName('vmconsole', 'local')) }))
      .finally(() => {
        dynamodb.destroy();
        s3.destroy();
      });
    // Remote consoles: the relay (its token table, its listeners) before anyone is told where it is.
    const relay = await startLocalRelay(spawn, baseEnv, { logFile: join(workDir, 'relay.log'), ports: options.relayPorts, logLevel: logLevel('INFO') });
    // Where demo automation clients (examples/collect-console-logs.ts) create their reply queues.
    const clientReplyUrlPrefix = `${accountUrlOf(requestQueue.queueUrl)}vmconsole-local-client-`;

    const demoAgentEnv = {
      VMCONSOLE_QUEUE_TAGS: LOCAL_QUEUE_TAGS,
      VMCONSOLE_HOST: host,
      VMCONSOLE_DRIVER: 'files',
      VMCONSOLE_INSTANCES_DIR: instancesDir,
      VMCONSOLE_LOG_ROOTS: instancesDir,
      VMCONSOLE_HEARTBEAT_MS: String(options.heartbeatMs ?? 5_000),
      VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: clientReplyUrlPrefix,
      VMCONSOLE_EVENTS_QUEUE_URL: diagnostics.eventsQueueUrl,
      ...relay.agentEnv,
      VMCONSOLE_HISTORY_BUCKET: diagnostics.historyBucket,
      POWERTOOLS_LOG_LEVEL: logLevel('INFO'),
      ...options.agentEnv,
    };
    const launchAgent = async (env: Record<string, string>) => {
      // Enrolled as an operator enrols a host (its queue and DLQ, with the stack's tags); the agent only looks its queue up.
      await enrolHost(env, { host: env.VMCONSOLE_HOST!, hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX ?? 'vmconsole-host-' });
      const startedAt = Date.now();
      const child = spawn(AGENT_COMMAND[0], AGENT_COMMAND.slice(1), env, agentLog);
      await waitFor(async () => {
        if (child.exitCode !== null) throw new Error(`the agent exited with code ${child.exitCode}`);
        const record = await directory.getHost(env.VMCONSOLE_HOST!);
        return record !== undefined && record.heartbeatAt >= startedAt;
      }, 30_000, `the agent (host ${env.VMCONSOLE_HOST}) to register`, agentLog);
      return child;
    };
    const agent = await launchAgent({ ...baseEnv, ...demoAgentEnv });
    const joinEnv = {
      ...baseEnv,
      VMCONSOLE_QUEUE_TAGS: LOCAL_QUEUE_TAGS,
      VMCONSOLE_REPLY_QUEUE_URL_PREFIX: await replyQueueUrlPrefix(baseEnv, host),
      VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: clientReplyUrlPrefix,
      VMCONSOLE_REQUEST_QUEUE_URL: requestQueue.queueUrl,
      VMCONSOLE_EVENTS_QUEUE_URL: diagnostics.eventsQueueUrl,
      VMCONSOLE_DIAGNOSES_TOPIC_ARN: diagnostics.topicArn,
      ...relay.agentEnv,
      VMCONSOLE_HISTORY_BUCKET: diagnostics.historyBucket,
    };
    const startAgent = async (extraEnv: Record<string, string> = {}) => launchAgent({ ...demoAgentEnv, ...(await readStackEnv(envFile)), ...extraEnv });

    const edgeEnv = {
      ...joinEnv,
      VMCONSOLE_REPLY_TIMEOUT_MS: String(options.replyTimeoutMs ?? 10_000),
      VMCONSOLE_AUTH_MODE: options.authMode ?? 'noauth',
      VMCONSOLE_JWT_SECRET: options.jwtSecret ?? '',
      POWERTOOLS_LOG_LEVEL: logLevel('WARN'),
      // One local user drives every request (and the bench its bursts) from one project: the
      // deployed defaults would answer 429. Set the variables to try the limits locally.
      VMCONSOLE_RATE_PROJECT_PER_S: process.env.VMCONSOLE_RATE_PROJECT_PER_S ?? '0',
      VMCONSOLE_RATE_API_PER_S: process.env.VMCONSOLE_RATE_API_PER_S ?? '0',
      VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: process.env.VMCONSOLE_QUEUE_RATE_PROJECT_PER_S ?? '0',
      VMCONSOLE_QUEUE_RATE_API_PER_S: process.env.VMCONSOLE_QUEUE_RATE_API_PER_S ?? '0',
      VMCONSOLE_QUEUE_REQUIRE_TOKEN: process.env.VMCONSOLE_QUEUE_REQUIRE_TOKEN ?? 'false',
      VMCONSOLE_ESBUILD_FOLDER: esbuildFolder,
      VMCONSOLE_DIAGNOSES_TABLE: diagnostics.tableName,
      VMCONSOLE_SCREENSHOT_BUCKET: diagnostics.screenshotBucket!,
      ...relay.edgeEnv,
      ...options.edgeEnv,
    };
    const lambdaPort = await freePort();
    const offline = spawn(process.execPath, [OSLS, 'offline', 'start', '--stage', 'local', '--httpPort', String(httpPort), '--lambdaPort', String(lambdaPort), ...OFFLINE_FLAGS], edgeEnv, offlineLog);
    const url = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => {
      if (offline.exitCode !== null) throw new Error(`serverless-offline exited with code ${offline.exitCode}`);
      const res = await fetch(`${url}/v2.1/`).catch(() => undefined);
      return res?.status === 200;
    }, 90_000, 'serverless-offline to serve the API', offlineLog);
    assertServedBy(httpPort, offline);
    await warmUp(url, offlineLog);
    // Lambda's SQS event source mapping, locally: serverless-offline-sqs would delete records the
    // router asked to retry (it ignores batchItemFailures).
    const invoke = invokeThroughOffline(`http://127.0.0.1:${lambdaPort}`, ROUTER_FUNCTION);
    const invokeDiagnose = invokeThroughOffline(`http://127.0.0.1:${lambdaPort}`, DIAGNOSE_FUNCTION);
    await Promise.all([warmUpRouter(invoke, ROUTER_FUNCTION, offlineLog), warmUpRouter(invokeDiagnose, DIAGNOSE_FUNCTION, offlineLog)]);
    poller = new RequestQueuePoller({ sqs, queueUrl: requestQueue.queueUrl, queueArn: requestQueue.queueArn, invoke, visibilityTimeoutS: LOCAL_REQUEST_VISIBILITY_S, batchSize: 5 });
    logPollerEvents(poller, offlineLog);
    poller.start();
    eventsPoller = new RequestQueuePoller({ sqs, queueUrl: diagnostics.eventsQueueUrl, queueArn: diagnostics.eventsQueueArn, invoke: invokeDiagnose, visibilityTimeoutS: LOCAL_REQUEST_VISIBILITY_S, batchSize: 10 });
    logPollerEvents(eventsPoller, offlineLog);
    eventsPoller.start();

    await writeStackEnv(envFile, joinEnv);
    return {
      url, aws, env: joinEnv, envFile, host, instancesDir, workDir, directory, demoServers: DEMO_SERVERS, agent, startAgent, stop,
      requestQueueUrl: requestQueue.queueUrl, requestDlqUrl: requestQueue.dlqUrl, clientReplyUrlPrefix, poller,
      eventsQueueUrl: diagnostics.eventsQueueUrl, eventsDlqUrl: diagnostics.eventsDlqUrl, diagnosesTopicArn: diagnostics.topicArn, diagnosesTable: diagnostics.tableName, eventsPoller,
      relay: relay.addresses,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Where the agents may send replies: the emulator's URL for the edge's reply queues. */
async function replyQueueUrlPrefix(env: Record<string, string>, host: string): Promise<string> {
  const sqs = createSqsClient(env);
  try {
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: hostQueueName(env.VMCONSOLE_HOST_QUEUE_PREFIX!, host) }));
    return ReplyDestinations.forEdgeReplies(QueueUrl!, env.VMCONSOLE_REPLY_QUEUE_PREFIX!);
  } finally {
    sqs.destroy();
  }
}

/**
 * Ready means ready through our own serverless-offline: the port was free when claimed, and
 * whoever answers on it now must be in that child's process group.
 */
function assertServedBy(port: number, offline: ChildProcess): void {
  const strangers = portListeners(port).filter((holder) => holder.group !== offline.pid);
  if (strangers.length > 0) throw new Error(`port ${port} is answered by ${strangers.map(describeProcess).join(', ')}, not by this stack's serverless-offline (pid ${offline.pid})`);
}

/**
 * One request per function, so the first users do not pay the bundles' load, and a check that
 * each answers as a Nova API does: serverless-offline turns a handler that fails to load or
 * throws into an HTTP 200 whose body is the error (`errorType`, `errorMessage`).
 */
async function warmUp(url: string, offlineLog: string): Promise<void> {
  const token = { 'X-Auth-Token': 'demo:demo' };
  const server = `${url}/v2.1/servers/${DEMO_SERVERS[0].id}`;
  const requests: Array<[string, RequestInit]> = [
    [`${url}/v2.1/servers`, { headers: token }],
    [server, { headers: token }],
    // A malformed action loads the console function without sending anything to the agent.
    [`${server}/action`, { method: 'POST', headers: { ...token, 'Content-Type': 'application/json' }, body: '{}' }],
    [`${url}/v2.1/no-such-route`, { headers: token }],
    [`${url}/vmconsole/v1/servers/${DEMO_SERVERS[0].id}/diagnoses`, { headers: token }],
    // An unknown server loads the on-demand diagnose function without asking the agent anything.
    [`${url}/vmconsole/v1/servers/00000000-0000-0000-0000-000000000000/diagnose`, { method: 'POST', headers: token }],
    [`${url}/vmconsole/v1/servers/00000000-0000-0000-0000-000000000000/screenshot`, { headers: token }],
    [`${url}/v2.1/os-services`, { headers: { 'X-Auth-Token': 'admin' } }],
  ];
  await Promise.all(requests.map(async ([target, init]) => {
    const res = await fetch(target, init);
    const body = (await res.json().catch(() => undefined)) as { errorType?: string; errorMessage?: string } | undefined;
    if (res.status >= 500 || body?.errorType !== undefined) {
      throw new Error(`${init.method ?? 'GET'} ${target} answered ${res.status} ${JSON.stringify(body)}\n${await logTail(offlineLog)}`);
    }
  }));
}

/** An SQS-triggered function's bundle loads and answers an empty batch as Lambda would, before a poller feeds it. */
async function warmUpRouter(invoke: ReturnType<typeof invokeThroughOffline>, name: string, offlineLog: string): Promise<void> {
  try {
    const response = await invoke({ Records: [] });
    if (!Array.isArray(response.batchItemFailures)) throw new Error(`answered ${JSON.stringify(response)}`);
  } catch (err) {
    throw new Error(`the queue-triggered function ${name} does not run: ${(err as Error).message}\n${await logTail(offlineLog)}`, { cause: err });
  }
}

/** The poller's failures go where the router's own log lines go. */
function logPollerEvents(poller: RequestQueuePoller, offlineLog: string): void {
  const line = (message: string, data: Record<string, unknown>) => void appendFile(offlineLog, `${JSON.stringify({ level: 'WARN', service: 'vmconsole-request-poller', message, ...data, timestamp: new Date().toISOString() })}\n`).catch(() => undefined);
  poller
    .on('invoke_error', ({ records, error }) => line('invoking the router failed; the records come back after the visibility timeout', { records, error: String(error) }))
    .on('receive_error', ({ error, retryInMs }) => line('receiving requests failed; retrying', { error: String(error), retryInMs }))
    .on('queue_error', ({ action, error }) => line(`${action} failed`, { error: String(error) }));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, logFile: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  try {
    while (Date.now() < until) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (err) {
    throw new Error(`${(err as Error).message} while waiting for ${what}\n${await logTail(logFile)}`, { cause: err });
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await logTail(logFile)}`);
}
