import { randomUUID } from 'node:crypto';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import type { Directory } from '../../lib/directory/directory.ts';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { startLocalAws } from './aws-local.ts';
import { okReply, startScriptedHost, type Script, type ScriptedHost } from './scripted-host.ts';

/**
 * Real fauxqs + dynalite with a directory describing four hosts:
 *   h-live        a scripted host answering by `script` (settable per test)
 *   h-silent      receives requests and never answers
 *   h-down        registered, last heartbeat long ago, its queue has no consumer
 *   (unregistered) servers naming a host with no host record
 * and servers in two projects. `env` is what the edge functions read.
 */
export interface EdgeFixture {
  env: Record<string, string>;
  sqs: SQSClient;
  directory: Directory;
  live: ScriptedHost;
  silent: ScriptedHost;
  downQueueUrl: string;
  servers: {
    web: ServerRecord; // proj-a on h-live
    db: ServerRecord; // proj-b on h-live
    quiet: ServerRecord; // proj-a on h-silent
    stale: ServerRecord; // proj-a on h-down
    homeless: ServerRecord; // proj-a on a host that never registered
  };
  stop(): Promise<void>;
}

export const defaultScript: Script = (req) => okReply(`console of ${req.server.instanceName} length=${JSON.stringify(req.length)}\n`);

function server(name: string, projectId: string, host: string): ServerRecord {
  return {
    id: randomUUID(),
    name,
    projectId,
    userId: `${projectId}-user`,
    host,
    hypervisor: 'files',
    state: 'active',
    instanceName: `instance-${name}`,
    updatedAt: Date.UTC(2026, 0, 2, 3, 4, 5),
  };
}

export async function startEdgeFixture(options: { replyTimeoutMs?: number } = {}): Promise<EdgeFixture> {
  const aws = await startLocalAws();
  const env: Record<string, string> = {
    ...aws.env,
    VMCONSOLE_AUTH_MODE: 'noauth',
    VMCONSOLE_REPLY_TIMEOUT_MS: String(options.replyTimeoutMs ?? 800),
    VMCONSOLE_REPLY_QUEUE_PREFIX: `edge-test-reply-`,
    // The edge derives each host's queue from its name: `edge-test-host-h-live` for h-live.
    VMCONSOLE_HOST_QUEUE_PREFIX: 'edge-test-host-',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
  const { directory } = aws;
  const live = await startScriptedHost(aws.sqs, 'edge-test-host-h-live', defaultScript);
  const silent = await startScriptedHost(aws.sqs, 'edge-test-host-h-silent', () => 'silent');
  const { QueueUrl: downQueueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: 'edge-test-host-h-down' }));

  const now = Date.now();
  const host = (name: string, queueUrl: string, heartbeatAt: number) =>
    directory.putHost({ host: name, queueUrl, hypervisor: 'files', heartbeatAt, heartbeatIntervalMs: 60_000, agentVersion: 'test', protocolMin: MIN_PROTOCOL_VERSION, protocolMax: PROTOCOL_VERSION });
  await host('h-live', live.queueUrl, now);
  await host('h-silent', silent.queueUrl, now);
  await host('h-down', downQueueUrl!, now - 10 * 60_000);

  const servers = {
    web: server('web-1', 'proj-a', 'h-live'),
    db: server('db-1', 'proj-b', 'h-live'),
    quiet: server('quiet-1', 'proj-a', 'h-silent'),
    stale: server('stale-1', 'proj-a', 'h-down'),
    homeless: server('homeless-1', 'proj-a', 'h-nowhere'),
  };
  await directory.putServers(Object.values(servers));

  return {
    env,
    sqs: aws.sqs,
    directory,
    live,
    silent,
    downQueueUrl: downQueueUrl!,
    servers,
    async stop() {
      await Promise.all([live.stop(), silent.stop()]);
      await aws.stop();
    },
  };
}

export { okReply, PROTOCOL_VERSION };
