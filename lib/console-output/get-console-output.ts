import type { Principal } from '../auth/principal.ts';
import { ConsoleOutputResult, PROTOCOL_VERSION, type AgentReply, type AgentRequest } from '../contracts/messages.ts';
import type { HostRecord } from '../contracts/records.ts';
import { isHostDown } from '../directory/host-liveness.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import { findVisibleServer, type ServerLookup } from '../servers/find-visible-server.ts';

export interface HostLookup {
  getHost(host: string): Promise<HostRecord | undefined>;
}
export interface AgentRequester {
  request(queueUrl: string, request: AgentRequest, deadlineAt: number): Promise<AgentReply>;
}

export interface GetConsoleOutputInput {
  principal: Principal;
  serverId: string;
  /** Normalised `length`: null keeps everything. */
  length: number | null;
}
export interface GetConsoleOutputDeps {
  directory: ServerLookup & HostLookup;
  replyChannel: AgentRequester;
  now?: () => number;
  /** How long to wait for the host; must fit well inside API Gateway's 30 s. */
  replyTimeoutMs: number;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/**
 * Nova's os-getConsoleOutput: find the server the caller may see, ask its compute host's agent
 * (which reads, truncates and decodes the log) and return the text. Better than Nova: a host
 * known to be down answers 409 at once, and a silent host a 504 that names it.
 */
export async function getConsoleOutput(input: GetConsoleOutputInput, deps: GetConsoleOutputDeps): Promise<string> {
  const now = deps.now ?? Date.now;
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const host = await deps.directory.getHost(server.host);
  if (!host) {
    throw new VmconsoleError('NoHost', `Instance ${server.id} is not ready: its compute host ${server.host} is not registered.`);
  }
  const silentFor = now() - host.heartbeatAt;
  if (isHostDown(host, now())) {
    throw new VmconsoleError('HostDown', `Compute host ${host.host} is down (last heartbeat ${Math.round(silentFor / 1000)}s ago).`);
  }

  const request: AgentRequest = {
    v: PROTOCOL_VERSION,
    kind: 'console.output',
    server: { id: server.id, instanceName: server.instanceName },
    length: input.length,
  };
  let reply: AgentReply;
  try {
    reply = await deps.replyChannel.request(host.queueUrl, request, now() + deps.replyTimeoutMs);
  } catch (err) {
    if (isVmconsoleError(err) && err.code === 'HostTimeout') {
      throw new VmconsoleError('HostTimeout', `Compute host ${host.host} did not answer within ${seconds(deps.replyTimeoutMs)}.`, { cause: err });
    }
    throw err;
  }
  if (!reply.ok) throw new VmconsoleError(reply.error.code, reply.error.message);
  const result = ConsoleOutputResult.safeParse(reply.result);
  if (!result.success) {
    throw new VmconsoleError('Internal', `Compute host ${host.host} sent a malformed console output reply.`, { cause: result.error });
  }
  return result.data.output;
}
