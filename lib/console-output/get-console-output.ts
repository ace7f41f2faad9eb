import type { Principal } from '../auth/principal.ts';
import { hostToAsk, type HostLookup } from '../directory/host-to-ask.ts';
import { findVisibleServer, type ServerLookup } from '../servers/find-visible-server.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { THIS_BUILD, versionFor } from '../transport/protocol-version.ts';

export type { HostLookup };

export interface GetConsoleOutputInput {
  principal: Principal;
  serverId: string;
  /** Normalised `length`: null keeps everything. */
  length: number | null;
  /** The edge's request id, carried to the agent and into its logs. */
  requestId: string;
  /** Epoch ms, computed once at the edge: nobody waits for the host after it. */
  deadline: number;
}
export interface GetConsoleOutputDeps {
  directory: ServerLookup & HostLookup;
  requester: HostRequester;
  now?: () => number;
  /** The newest host protocol version to speak: PROTOCOL_VERSION unless the edge is pinned lower (VMCONSOLE_PROTOCOL_MAX). */
  protocolMax?: number;
}

/**
 * Nova's os-getConsoleOutput: find the server the caller may see, ask its compute host's agent
 * (which reads, truncates and decodes the log) and return the text. Better than Nova: a host
 * known to be down answers 409 at once, and a silent host a 504 by the deadline. Which host it is
 * goes to the operator (`detail`), not to the tenant.
 */
export async function getConsoleOutput(input: GetConsoleOutputInput, deps: GetConsoleOutputDeps): Promise<string> {
  const now = deps.now ?? Date.now;
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const host = await hostToAsk(deps.directory, server, now());
  const version = versionFor(host, { ...THIS_BUILD, max: deps.protocolMax ?? THIS_BUILD.max });
  const { output } = await askHost(deps.requester, 'console.output', host.host, {
    server: { id: server.id, instanceName: server.instanceName },
    length: input.length,
  }, { deadline: input.deadline, requestId: input.requestId, now, version });
  return output;
}
