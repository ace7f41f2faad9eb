import path, { type PlatformPath } from 'node:path';
import { z } from 'zod';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../contracts/messages.ts';
import { HostName, QueueUrl } from '../contracts/records.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS, MAX_HEARTBEAT_INTERVAL_MS } from '../directory/host-liveness.ts';
import { QUEUE_URL_PREFIX } from '../transport/queue-naming.ts';
import { BUCKET_NAME } from '../history/s3-client.ts';

export const DRIVERS = ['libvirt', 'files', 'hyperv'] as const;
export type DriverKind = (typeof DRIVERS)[number];

/**
 * One entry per environment variable the agent reads: the single source for validation, `--help`
 * and the README table. `drivers` limits a variable to the drivers that read it.
 */
export interface AgentVariable {
  name: string;
  required: boolean;
  default?: string;
  drivers?: readonly DriverKind[];
  /** What the value means; shown by `--help`. */
  help: string;
  /** Why a bad value is bad, completing "<NAME> must ..."; absent for variables read by the SDK. */
  rule?: string;
}

const PREFIX_RULE = 'be 1-40 of [A-Za-z0-9_-]';

export const AGENT_VARIABLES: readonly AgentVariable[] = [
  { name: 'VMCONSOLE_HOST', required: true, help: 'this compute host\'s name, as Nova knows it', rule: 'be 1-60 of [A-Za-z0-9_-], not ending in -dlq' },
  { name: 'VMCONSOLE_TABLE', required: true, help: 'DynamoDB directory table', rule: 'be at least 3 characters' },
  { name: 'VMCONSOLE_DRIVER', required: false, default: 'libvirt', help: 'hypervisor driver', rule: `be one of ${DRIVERS.join(', ')}` },
  { name: 'VMCONSOLE_LOG_ROOTS', required: false, default: '/var/log/libvirt/qemu:/var/lib/nova/instances', help: 'directories console logs may be read from, separated by \':\' (\';\' on Windows); hyperv: the instances directory', rule: 'be a colon-separated list of absolute paths (semicolon-separated on Windows)' },
  { name: 'VMCONSOLE_INSTANCES_DIR', required: false, default: '/var/lib/nova/instances', drivers: ['libvirt', 'files', 'hyperv'], help: 'instances directory (hyperv: required, Nova\'s instances_path, e.g. C:\\OpenStack\\Instances)', rule: 'be an absolute path' },
  { name: 'VMCONSOLE_POWERSHELL', required: false, default: 'powershell.exe', drivers: ['hyperv'], help: 'PowerShell executable that lists VMs (powershell.exe or pwsh.exe)', rule: 'not be empty' },
  { name: 'VMCONSOLE_HYPERV_PIPE_PATH', required: false, default: '\\\\.\\pipe\\{uuid}_{type}', drivers: ['hyperv'], help: 'where a VM\'s serial pipe is connected: {uuid} (instance UUID), {type} (ro or rw), {name} (the pipe\'s whole name)', rule: 'contain {uuid} or {name}' },
  { name: 'VMCONSOLE_HYPERV_LOG_CAP_BYTES', required: false, default: '524288', drivers: ['hyperv'], help: 'console.log is rotated to console.log.1 before it would reach this size (os-win: 512 KiB)', rule: 'be an integer from 4096 to 67108864' },
  { name: 'VMCONSOLE_HYPERV_COLLECT', required: false, default: 'on', drivers: ['hyperv'], help: 'on: the agent collects each VM\'s serial pipe into its console log; off: nova-compute (compute-hyperv) still does on this host, the agent only reads its logs', rule: 'be on or off' },
  { name: 'VMCONSOLE_HYPERV_POLL_MS', required: false, default: '10000', drivers: ['hyperv'], help: 'how often Hyper-V is asked for its VMs (state changes show within this)', rule: 'be an integer from 1000 to 300000' },
  { name: 'VMCONSOLE_LIBVIRT_URI', required: false, default: 'qemu:///system', drivers: ['libvirt'], help: 'libvirt connection URI', rule: 'not be empty' },
  { name: 'VMCONSOLE_FOLLOW', required: false, default: 'auto', help: 'follow every console log as it is written and hand new output to the crash analyser\'s first stage: auto (whenever VMCONSOLE_EVENTS_QUEUE_URL is set), on, off', rule: 'be auto, on or off' },
  { name: 'VMCONSOLE_CONCURRENCY', required: false, default: '16', help: 'requests served at once (the agent\'s 64 MiB heap is sized for 64 full windows in flight)', rule: 'be an integer from 1 to 64' },
  { name: 'VMCONSOLE_HEARTBEAT_MS', required: false, default: String(DEFAULT_HEARTBEAT_INTERVAL_MS), help: 'heartbeat interval; the edge calls the host down after interval + min(2 x interval, 20 s) of silence', rule: `be an integer from 200 to ${MAX_HEARTBEAT_INTERVAL_MS}` },
  { name: 'VMCONSOLE_PROTOCOL_MAX', required: false, help: 'newest host protocol version to speak (default: this build\'s newest); set to the previous version to behave as the previous release on the wire (rollback, upgrade tests)', rule: `be an integer from ${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}` },
  { name: 'VMCONSOLE_HOST_QUEUE_PREFIX', required: false, default: 'vmconsole-host-', help: 'prefix of this host\'s SQS queue name (must match the edge)', rule: PREFIX_RULE },
  { name: 'VMCONSOLE_REPLY_QUEUE_PREFIX', required: false, default: 'vmconsole-reply-', help: 'prefix of the edge\'s reply queue names (must match the edge)', rule: PREFIX_RULE },
  { name: 'VMCONSOLE_REPLY_QUEUE_URL_PREFIX', required: false, help: 'full URL prefix replies may go to (default: derived from this host\'s queue URL)', rule: 'be an SQS queue URL prefix (https://host/account/name-prefix)' },
  { name: 'VMCONSOLE_CLIENT_REPLY_URL_PREFIXES', required: false, help: 'comma-separated SQS queue URL prefixes of automation clients\' reply queues this agent may answer (queue-driven automation; unset: none)', rule: 'be a comma-separated list of SQS queue URL prefixes (https://host/account/name-prefix)' },
  { name: 'VMCONSOLE_RELAY_URL_PREFIXES', required: false, help: 'comma-separated ws:// or wss:// URL prefixes of the console relay\'s tunnel path this agent may dial for remote consoles (console.connect; unset: remote consoles refused)', rule: 'be a comma-separated list of ws:// or wss:// URL prefixes with a path (wss://relay.example.com/tunnel/)' },
  { name: 'VMCONSOLE_EVENTS_QUEUE_URL', required: false, help: 'crash diagnostics\' events queue: a crash the hypervisor reports is sent there (unset: none sent)', rule: 'be an SQS queue URL' },
  { name: 'VMCONSOLE_HISTORY_BUCKET', required: false, help: 'S3 bucket console history is shipped to (README, "Console history"); unset: no history kept, console.read refused', rule: 'be an S3 bucket name' },
  { name: 'VMCONSOLE_HISTORY_SHIP_MS', required: false, default: '900000', help: 'console output is shipped to S3 at most this long after it is written (also at every rotation, stop, crash, migration and agent stop)', rule: 'be an integer from 1000 to 86400000' },
  { name: 'VMCONSOLE_S3_ENDPOINT', required: false, help: 'S3 endpoint (default: VMCONSOLE_SQS_ENDPOINT when set, else the region\'s)' },
  { name: 'VMCONSOLE_REGISTRAR', required: false, default: 'agent', help: 'who turns this host\'s inventory into server records: agent (the agent itself; local stacks, where it may write them) or stack (the deployed stack\'s registrar function; deployed agents may not write server records)', rule: 'be agent or stack' },
  { name: 'VMCONSOLE_SQS_ENDPOINT', required: false, help: 'SQS endpoint (default: the region\'s; set for a local emulator)' },
  { name: 'VMCONSOLE_DYNAMODB_ENDPOINT', required: false, help: 'DynamoDB endpoint (default: the region\'s; set for a local emulator)' },
  { name: 'AWS_REGION', required: false, default: 'us-east-1', help: 'AWS region' },
  { name: 'AWS_ACCESS_KEY_ID', required: false, help: 'credentials (or AWS_PROFILE, or the instance role: the SDK\'s default chain)' },
  { name: 'AWS_SECRET_ACCESS_KEY', required: false, help: 'credentials, with AWS_ACCESS_KEY_ID' },
  { name: 'POWERTOOLS_LOG_LEVEL', required: false, default: 'INFO', help: 'log level (DEBUG, INFO, WARN, ERROR)' },
];

export type DriverConfig =
  | { kind: 'libvirt'; uri: string; instancesDir: string }
  | { kind: 'files'; instancesDir: string }
  | { kind: 'hyperv'; instancesDir: string; powershell: string; pipePathTemplate: string; logCapBytes: number; pollMs: number; collect: boolean };

/** Everything an agent needs, read once at start-up: common settings plus its driver's own section. */
export interface AgentConfig {
  host: string;
  tableName: string;
  hostQueuePrefix: string;
  replyQueuePrefix: string;
  /** Full URL prefix replies may go to; derived from our own queue URL when not given. */
  replyQueueUrlPrefix?: string;
  /** Queue URL prefixes of automation clients' reply queues (console.output.batch); none when absent. */
  clientReplyUrlPrefixes?: string[];
  /** Crash diagnostics' events queue: crashes the driver reports are sent there; none when absent. */
  eventsQueueUrl?: string;
  /** Tunnel URL prefixes of the console relay the agent may dial (console.connect); none when absent: remote consoles refused. */
  relayUrlPrefixes?: string[];
  /** Console history (lib/history): the S3 bucket and how long output may wait to be shipped; none when absent. */
  history?: { bucket: string; shipEveryMs: number };
  /** Directories console logs may be read from, whatever the driver. */
  logRoots: string[];
  concurrency: number;
  heartbeatMs: number;
  /** The newest protocol version this agent speaks: PROTOCOL_VERSION unless pinned lower. */
  protocolMax: number;
  /**
   * VMCONSOLE_FOLLOW: console logs are followed (lib/console/follower-pool.ts) and handed to the
   * agent's console consumer: `auto` whenever there is one (crash events are configured), `on`
   * says so in the log when there is none.
   */
  follow: 'auto' | 'on' | 'off';
  /** VMCONSOLE_REGISTRAR: `agent` registers its servers itself (lib/directory/registrar.ts), `stack` leaves it to the stack's registrar. */
  registrar: 'agent' | 'stack';
  driver: DriverConfig;
}

/** A configuration the agent refuses; each problem names the environment variable to fix. */
export class AgentConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid agent configuration: ${problems.join('; ')}`);
    this.name = 'AgentConfigError';
    this.problems = problems;
  }
}

const Prefix = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/);
/**
 * Paths by the rules of the platform the agent runs on (`C:\OpenStack\Instances` on Windows),
 * lists split at its delimiter (';' on Windows, where ':' follows every drive letter). Tests pass
 * path.win32 to check the Windows rules on Linux.
 */
function pathSchemas(p: PlatformPath): Record<string, z.ZodType> {
  const AbsolutePath = z.string().refine((s) => p.isAbsolute(s) && (p.sep === '/' || /^[A-Za-z]:\\|^\\\\/.test(p.normalize(s))));
  return {
    VMCONSOLE_LOG_ROOTS: z.string().transform((s) => s.split(p.delimiter).filter(Boolean).map((root) => p.normalize(root))).pipe(z.array(AbsolutePath).min(1)),
    VMCONSOLE_INSTANCES_DIR: AbsolutePath.transform((s) => p.normalize(s)),
  };
}
const SCHEMAS: Record<string, z.ZodType> = {
  VMCONSOLE_HOST: HostName,
  VMCONSOLE_TABLE: z.string().min(3),
  VMCONSOLE_DRIVER: z.enum(DRIVERS),
  VMCONSOLE_LIBVIRT_URI: z.string().min(1),
  VMCONSOLE_POWERSHELL: z.string().min(1),
  VMCONSOLE_HYPERV_PIPE_PATH: z.string().refine((s) => s.includes('{uuid}') || s.includes('{name}')),
  VMCONSOLE_HYPERV_LOG_CAP_BYTES: z.coerce.number().int().min(4096).max(64 * 1024 * 1024),
  VMCONSOLE_HYPERV_POLL_MS: z.coerce.number().int().min(1000).max(300_000),
  VMCONSOLE_HYPERV_COLLECT: z.enum(['on', 'off']).transform((v) => v === 'on'),
  VMCONSOLE_FOLLOW: z.enum(['auto', 'on', 'off']),
  VMCONSOLE_CONCURRENCY: z.coerce.number().int().min(1).max(64),
  VMCONSOLE_HEARTBEAT_MS: z.coerce.number().int().min(200).max(MAX_HEARTBEAT_INTERVAL_MS),
  VMCONSOLE_PROTOCOL_MAX: z.coerce.number().int().min(MIN_PROTOCOL_VERSION).max(PROTOCOL_VERSION),
  VMCONSOLE_HOST_QUEUE_PREFIX: Prefix,
  VMCONSOLE_REPLY_QUEUE_PREFIX: Prefix,
  VMCONSOLE_REPLY_QUEUE_URL_PREFIX: z.string().regex(QUEUE_URL_PREFIX),
  VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: z.string().transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean)).pipe(z.array(z.string().regex(QUEUE_URL_PREFIX)).min(1)),
  VMCONSOLE_EVENTS_QUEUE_URL: QueueUrl,
  // A prefix ends inside the path, so `ws://relay` cannot admit `ws://relay.attacker.example`.
  VMCONSOLE_RELAY_URL_PREFIXES: z.string().transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean)).pipe(z.array(z.string().max(1024).regex(/^wss?:\/\/[^/\s?#@]+\/[^\s?#]*$/).refine((p) => URL.canParse(p)).transform((p) => new URL(p).href)).min(1)),
  VMCONSOLE_HISTORY_BUCKET: z.string().regex(BUCKET_NAME),
  VMCONSOLE_HISTORY_SHIP_MS: z.coerce.number().int().min(1000).max(86_400_000),
  VMCONSOLE_REGISTRAR: z.enum(['agent', 'stack']),
};

/** SQS queue names are at most 80 characters and the host's dead-letter queue adds "-dlq". */
const MAX_HOST_QUEUE_NAME = 80 - '-dlq'.length;

export function readAgentConfig(env: NodeJS.ProcessEnv = process.env, platformPath: PlatformPath = path): AgentConfig {
  const problems: string[] = [];
  const values = new Map<string, unknown>();
  const schemas = { ...SCHEMAS, ...pathSchemas(platformPath) };
  // A driver's variables are checked only when that driver runs: a files host ignores the libvirt URI.
  const kind = env.VMCONSOLE_DRIVER || 'libvirt';
  // Hyper-V hosts have no Linux default to fall back on: the instances dir must be named, and the
  // logs the agent reads are the ones it writes there.
  const rootsFromInstancesDir = kind === 'hyperv' && !env.VMCONSOLE_LOG_ROOTS;
  if (kind === 'hyperv' && !env.VMCONSOLE_INSTANCES_DIR) problems.push('VMCONSOLE_INSTANCES_DIR is required for the hyperv driver (Nova\'s instances_path, e.g. C:\\OpenStack\\Instances)');
  for (const variable of AGENT_VARIABLES) {
    if (rootsFromInstancesDir && variable.name === 'VMCONSOLE_LOG_ROOTS') continue;
    if (kind === 'hyperv' && variable.name === 'VMCONSOLE_INSTANCES_DIR' && !env.VMCONSOLE_INSTANCES_DIR) continue;
    const schema = schemas[variable.name];
    if (!schema || (variable.drivers && !variable.drivers.includes(kind as DriverKind))) continue;
    const raw = env[variable.name] || variable.default;
    if (raw === undefined) {
      if (variable.required) problems.push(`${variable.name} is required`);
      continue;
    }
    const parsed = schema.safeParse(raw);
    if (parsed.success) values.set(variable.name, parsed.data);
    else problems.push(`${variable.name} must ${variable.rule} (got "${raw}")`);
  }
  if (rootsFromInstancesDir && values.has('VMCONSOLE_INSTANCES_DIR')) values.set('VMCONSOLE_LOG_ROOTS', [values.get('VMCONSOLE_INSTANCES_DIR')]);
  const get = <T>(name: string) => values.get(name) as T;
  const host = get<string | undefined>('VMCONSOLE_HOST');
  const hostQueuePrefix = get<string | undefined>('VMCONSOLE_HOST_QUEUE_PREFIX');
  if (host && hostQueuePrefix && hostQueuePrefix.length + host.length > MAX_HOST_QUEUE_NAME) {
    problems.push(`VMCONSOLE_HOST_QUEUE_PREFIX + VMCONSOLE_HOST must be at most ${MAX_HOST_QUEUE_NAME} characters (SQS queue names are 80 with "-dlq")`);
  }
  const replyQueueUrlPrefix = get<string | undefined>('VMCONSOLE_REPLY_QUEUE_URL_PREFIX');
  const replyQueuePrefix = get<string | undefined>('VMCONSOLE_REPLY_QUEUE_PREFIX');
  for (const [variable, name] of [['VMCONSOLE_REPLY_QUEUE_PREFIX', replyQueuePrefix], ['VMCONSOLE_REPLY_QUEUE_URL_PREFIX', replyQueueUrlPrefix?.slice(replyQueueUrlPrefix.lastIndexOf('/') + 1)]] as const) {
    if (name && hostQueuePrefix && (name.startsWith(hostQueuePrefix) || hostQueuePrefix.startsWith(name))) {
      problems.push(`${variable} must not overlap VMCONSOLE_HOST_QUEUE_PREFIX (replies would land on host queues)`);
    }
  }
  const clientReplyUrlPrefixes = get<string[] | undefined>('VMCONSOLE_CLIENT_REPLY_URL_PREFIXES');
  for (const prefix of clientReplyUrlPrefixes ?? []) {
    const name = prefix.slice(prefix.lastIndexOf('/') + 1);
    if (hostQueuePrefix && (name.startsWith(hostQueuePrefix) || hostQueuePrefix.startsWith(name))) {
      problems.push('VMCONSOLE_CLIENT_REPLY_URL_PREFIXES must not overlap VMCONSOLE_HOST_QUEUE_PREFIX (replies would land on host queues)');
    }
  }
  if (problems.length > 0) throw new AgentConfigError(problems);

  return {
    host: host!,
    tableName: get('VMCONSOLE_TABLE'),
    hostQueuePrefix: hostQueuePrefix!,
    replyQueuePrefix: replyQueuePrefix!,
    ...(replyQueueUrlPrefix !== undefined && { replyQueueUrlPrefix }),
    ...(clientReplyUrlPrefixes !== undefined && { clientReplyUrlPrefixes }),
    ...(values.has('VMCONSOLE_EVENTS_QUEUE_URL') && { eventsQueueUrl: get<string>('VMCONSOLE_EVENTS_QUEUE_URL') }),
    ...(values.has('VMCONSOLE_RELAY_URL_PREFIXES') && { relayUrlPrefixes: get<string[]>('VMCONSOLE_RELAY_URL_PREFIXES') }),
    ...(values.has('VMCONSOLE_HISTORY_BUCKET') && { history: { bucket: get<string>('VMCONSOLE_HISTORY_BUCKET'), shipEveryMs: get<number>('VMCONSOLE_HISTORY_SHIP_MS') } }),
    logRoots: get('VMCONSOLE_LOG_ROOTS'),
    concurrency: get('VMCONSOLE_CONCURRENCY'),
    heartbeatMs: get('VMCONSOLE_HEARTBEAT_MS'),
    protocolMax: get<number | undefined>('VMCONSOLE_PROTOCOL_MAX') ?? PROTOCOL_VERSION,
    follow: get('VMCONSOLE_FOLLOW'),
    registrar: get('VMCONSOLE_REGISTRAR'),
    driver: driverSection(get<DriverKind>('VMCONSOLE_DRIVER'), get),
  };
}

/** Each driver's section holds only what that driver reads; a Hyper-V section is one more case. */
function driverSection(kind: DriverKind, get: <T>(name: string) => T): DriverConfig {
  switch (kind) {
    case 'libvirt':
      return { kind, uri: get('VMCONSOLE_LIBVIRT_URI'), instancesDir: get('VMCONSOLE_INSTANCES_DIR') };
    case 'files':
      return { kind, instancesDir: get('VMCONSOLE_INSTANCES_DIR') };
    case 'hyperv':
      return {
        kind,
        instancesDir: get('VMCONSOLE_INSTANCES_DIR'),
        powershell: get('VMCONSOLE_POWERSHELL'),
        pipePathTemplate: get('VMCONSOLE_HYPERV_PIPE_PATH'),
        logCapBytes: get('VMCONSOLE_HYPERV_LOG_CAP_BYTES'),
        pollMs: get('VMCONSOLE_HYPERV_POLL_MS'),
        collect: get('VMCONSOLE_HYPERV_COLLECT'),
      };
  }
}

/** The `--help` text's variable table: name, required or default, drivers, meaning. */
export function describeAgentVariables(): string {
  const width = Math.max(...AGENT_VARIABLES.map((v) => v.name.length));
  return AGENT_VARIABLES.map((v) => {
    const need = v.required ? 'required' : v.default !== undefined ? `default ${v.default}` : 'optional';
    const only = v.drivers && v.drivers.length < DRIVERS.length ? ` [${v.drivers.join(', ')} driver]` : '';
    return `  ${v.name.padEnd(width)}  ${v.help}${only} (${need})`;
  }).join('\n');
}
