import { access, constants, readdir } from 'node:fs/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createVirsh } from '../hypervisors/libvirt/virsh.ts';
import { createDocumentClient } from '../directory/dynamodb-client.ts';
import { Directory } from '../directory/directory.ts';
import { silentFor } from '../directory/host-liveness.ts';
import { findHostQueue } from '../transport/host-queue.ts';
import { createSqsClient } from '../transport/sqs-client.ts';
import { isVmconsoleError } from '../errors.ts';
import type { AgentConfig } from './config.ts';
import { createDriver } from './create-driver.ts';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found, or why it failed (operator text: paths, URIs and SDK messages belong here). */
  found: string;
}

/** No check may hang `--check` on a dead endpoint. */
const CHECK_TIMEOUT_MS = 10_000;

/**
 * What `vmconsole-agent --check` verifies, with the calls the agent itself makes at start-up:
 * the directory table answers, the host queue (created at enrolment) exists and can be read, the hypervisor lists its
 * servers and every log root is readable. One result per check; none stops the others.
 */
export async function checkAgent(config: AgentConfig, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const sqs = createSqsClient(env);
  const doc = createDocumentClient(env);
  try {
    return await Promise.all([
      check('dynamodb', async () => {
        const host = await new Directory(doc, config.tableName).getHost(config.host).catch((err: unknown) => {
          if ((err as Error).name === 'ResourceNotFoundException') throw new Error(`table ${config.tableName} does not exist in this region (ResourceNotFoundException)`);
          throw err;
        });
        const beat = host ? `last heartbeat ${Math.round(silentFor(host, Date.now()) / 1000)} s ago` : 'this host is not registered yet';
        return `table ${config.tableName} answers; ${beat}`;
      }),
      check('sqs', async () => {
        const queueUrl = await findHostQueue(sqs, { prefix: config.hostQueuePrefix, host: config.host });
        const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
        return `queue ${queueUrl} ready, ${Attributes?.ApproximateNumberOfMessages ?? '?'} message(s) waiting`;
      }),
      check('hypervisor', () => checkHypervisor(config)),
      ...config.logRoots.map((root) => check(`log root ${root}`, async () => {
        await access(root, constants.R_OK | constants.X_OK);
        return 'readable';
      })),
    ]);
  } finally {
    sqs.destroy();
    doc.destroy();
  }
}

async function checkHypervisor(config: AgentConfig): Promise<string> {
  const { driver } = config;
  let found: string;
  switch (driver.kind) {
    case 'libvirt': {
      const version = await createVirsh(driver.uri, { timeoutMs: CHECK_TIMEOUT_MS })(['version', '--daemon']);
      const daemon = /Running against daemon:\s*(.+)/i.exec(version)?.[1]?.trim() ?? 'answers';
      found = `libvirt at ${driver.uri} (daemon ${daemon})`;
      break;
    }
    case 'files':
      found = `instances directory ${driver.instancesDir} holds ${(await readdir(driver.instancesDir)).length} entries`;
      break;
    case 'hyperv':
      // listServers below runs the discovery script once: that is the check.
      found = `Hyper-V through ${driver.powershell}`;
      break;
  }
  const servers = await (await createDriver(config)).listServers();
  return `${found}; ${servers.length} server(s) listed`;
}

async function check(name: string, run: () => Promise<string>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
  });
  try {
    return { name, ok: true, found: await Promise.race([run(), timeout]) };
  } catch (err) {
    return { name, ok: false, found: explain(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** The operator's view of a failure: our message, its detail and the underlying cause. */
function explain(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  if (isVmconsoleError(err) && err.detail) parts.push(String(err.detail));
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && !err.message.includes(cause.message)) parts.push(`${cause.name}: ${cause.message}`);
  if (!isVmconsoleError(err) && err.name !== 'Error') parts[0] = `${err.name}: ${err.message}`;
  return parts.join(' - ').replace(/\s+/g, ' ').slice(0, 500);
}

export function formatCheck(result: CheckResult): string {
  return `${result.ok ? 'ok  ' : 'FAIL'} ${result.name}: ${result.found}`;
}
