/**
 * A suite's shared setup, written once: each `use*` registers its own beforeAll/afterAll in the
 * calling file (or describe block) and returns a handle whose fields are there from beforeAll on.
 * Everything started is stopped and every work dir removed, in reverse order, even when a later
 * step of the setup failed.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { LocalStackOptions } from '../../lib/local/local-stack.ts';
import { kill, startAgentProcess } from './agent-process.ts';
import { startAwsProcess, startLocalAws, type LocalAws, type TestAws } from './aws-local.ts';
import { writeNamedInstances, type NamedServer } from './reliability-fixture.ts';
import { startTestStack, type TestStack } from './test-stack.ts';

/**
 * A handle filled in by beforeAll. Reading it earlier (at collection time, say) fails with a
 * message that says so, instead of an `undefined` surfacing somewhere else.
 */
function lateHandle<T extends object>(what: string): { handle: T; fill(value: T): void } {
  let target: T | undefined;
  const handle = new Proxy({} as T, {
    get(_, key) {
      if (target === undefined) throw new Error(`${what} is used before its beforeAll ran (read ${String(key)})`);
      return Reflect.get(target, key);
    },
    set(_, key, value) {
      if (target === undefined) throw new Error(`${what} is used before its beforeAll ran (wrote ${String(key)})`);
      return Reflect.set(target, key, value);
    },
  });
  return { handle, fill: (value) => (target = value) };
}

/** Stops to run after the suite, last started first; registered as each part comes up. */
function teardown(): { add(stop: () => Promise<unknown> | unknown): void; run(): Promise<void> } {
  const stops: Array<() => Promise<unknown> | unknown> = [];
  return {
    add: (stop) => void stops.push(stop),
    async run() {
      const errors: unknown[] = [];
      for (const stop of stops.splice(0).reverse()) {
        try {
          await stop();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length > 0) throw new AggregateError(errors, 'teardown failed');
    },
  };
}

/** A private fauxqs + dynalite for the suite; `persistentSqs` keeps queues across stopSqs/startSqs. */
export function useLocalAws(options: { persistentSqs?: boolean } = {}): LocalAws {
  const { handle, fill } = lateHandle<LocalAws>('useLocalAws()');
  const after = teardown();
  beforeAll(async () => {
    let sqsDataDir: string | undefined;
    if (options.persistentSqs) {
      sqsDataDir = await mkdtemp(join(tmpdir(), 'vmconsole-sqs-'));
      after.add(() => rm(sqsDataDir!, { recursive: true, force: true }));
    }
    const aws = await startLocalAws({ sqsDataDir });
    after.add(() => aws.stop());
    fill(aws);
  });
  afterAll(() => after.run());
  return handle;
}

export interface AgentOnAws<A extends TestAws> {
  aws: A;
  /** The suite's own directory: instances/, agent.log (and sqs/ with `persistentSqs`). */
  work: string;
  instancesDir: string;
  agentLog: string;
  host: string;
  /** The servers written before the agent started (`servers` of them). */
  servers: NamedServer[];
  /** The running agent process (the latest, after `restartAgent`). */
  agent: ChildProcess;
  /** The host queue the agent serves, as it registered it. */
  hostQueueUrl: string;
  /** Start a new agent process for the same host and instances (kill the old one first if needed). */
  restartAgent(): Promise<ChildProcess>;
}

export interface AgentOnAwsOptions {
  host: string;
  /** How many named servers (writeNamedInstances) the host has when the agent starts. */
  servers?: number;
  /** Anything else to put in the instances dir before the agent starts. */
  prepareInstances?: (instancesDir: string) => Promise<unknown>;
  heartbeatMs?: number;
  /** More agent environment (e.g. a log level to read its log by). */
  agentEnv?: Record<string, string>;
  /** Queues kept across stopSqs/startSqs. */
  persistentSqs?: boolean;
  /** fauxqs and dynalite in a process of their own (startAwsProcess), as for load. */
  awsInOwnProcess?: boolean;
}

/**
 * A real agent process (files driver over `servers` named servers) on a private SQS and DynamoDB,
 * with its own work dir: the setup of every suite that drives the agent as the edge does.
 */
export function useAgentOnLocalAws(options: AgentOnAwsOptions & { awsInOwnProcess: true; persistentSqs?: never }): AgentOnAws<TestAws>;
export function useAgentOnLocalAws(options: AgentOnAwsOptions & { awsInOwnProcess?: false }): AgentOnAws<LocalAws>;
export function useAgentOnLocalAws(options: AgentOnAwsOptions): AgentOnAws<TestAws> {
  const { handle, fill } = lateHandle<AgentOnAws<TestAws>>(`useAgentOnLocalAws(${options.host})`);
  const after = teardown();
  beforeAll(async () => {
    const work = await mkdtemp(join(tmpdir(), `vmconsole-${options.host}-`));
    after.add(() => rm(work, { recursive: true, force: true }));
    const aws = options.awsInOwnProcess ? await startAwsProcess() : await startLocalAws({ sqsDataDir: options.persistentSqs ? join(work, 'sqs') : undefined });
    after.add(() => aws.stop());
    const instancesDir = join(work, 'instances');
    const agentLog = join(work, 'agent.log');
    const servers = await writeNamedInstances(instancesDir, options.servers ?? 0);
    await options.prepareInstances?.(instancesDir);
    const start = () => startAgentProcess(aws.env, {
      host: options.host, directory: aws.directory, instancesDir, logFile: agentLog, heartbeatMs: options.heartbeatMs, extraEnv: options.agentEnv,
    });
    const state: AgentOnAws<TestAws> = {
      aws, work, instancesDir, agentLog, host: options.host, servers,
      agent: await start(),
      hostQueueUrl: '',
      async restartAgent() {
        state.agent = await start();
        return state.agent;
      },
    };
    after.add(() => kill(state.agent));
    state.hostQueueUrl = (await aws.directory.getHost(options.host))!.queueUrl;
    fill(state);
  }, 60_000);
  afterAll(() => after.run());
  return handle;
}

/** The `npm start` stack in a work dir of its own, for suites that go through HTTP. */
export function useLocalStack(name: string, options: Omit<LocalStackOptions, 'workDir' | 'claim'> = {}): TestStack {
  const { handle, fill } = lateHandle<TestStack>(`useLocalStack(${name})`);
  let running: TestStack | undefined;
  // The stack (serverless-offline's esbuild, the relay, two agents) starts in ~30 s on an idle
  // 2-core machine and took up to 83 s beside the libvirt suites: a start is not what these suites time.
  beforeAll(async () => {
    running = await startTestStack(name, options);
    fill(running);
  }, 180_000);
  afterAll(() => running?.stop());
  return handle;
}
