import type { Principal } from '../auth/principal.ts';
import type { HostRecord } from '../contracts/records.ts';
import { isHostDown, silentFor } from '../directory/host-liveness.ts';
import { VmconsoleError } from '../errors.ts';
import { findVisibleServer, type ServerLookup } from '../servers/find-visible-server.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { THIS_BUILD, versionFor } from '../transport/protocol-version.ts';

export interface HostLookup {
  getHost(host: string): Promise<HostRecord | undefined>;
}

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
  const host = await deps.directory.getHost(server.host);
  if (!host) {
    throw new VmconsoleError('NoHost', `Instance ${server.id} is not ready: its compute host is not registered.`, {
      detail: `host ${server.host} has no host record`,
    });
  }
  if (host.maintenance) {
    // The agent said it stopped (an upgrade, a reboot): not a failure, and no use waiting for it.
    throw new VmconsoleError('HostMaintenance', 'The compute host of this server is in maintenance. Try again later.', {
      detail: `host ${host.host}: ${host.maintenance.reason} at ${new Date(host.maintenance.since).toISOString()}`,
    });
  }
  if (isHostDown(host, now())) {
    throw new VmconsoleError('HostDown', 'The compute host of this server is down.', {
      detail: `host ${host.host}: last heartbeat ${Math.round(silentFor(host, now()) / 1000)}s ago`,
    });
  }
  const version = versionFor(host, { ...THIS_BUILD, max: deps.protocolMax ?? THIS_BUILD.max });
  const { output } = await askHost(deps.requester, 'console.output', host.host, {
    server: { id: server.id, instanceName: server.instanceName },
    length: input.length,
  }, { deadline: input.deadline, requestId: input.requestId, now, version });
  return output;
}
