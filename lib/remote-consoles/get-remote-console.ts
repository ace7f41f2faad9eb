import type { Principal } from '../auth/principal.ts';
import type { RemoteConsoleProtocol } from '../contracts/messages.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import { findVisibleServer, type ServerLookup } from '../servers/find-visible-server.ts';
import { hostToAsk, type HostLookup } from '../directory/host-to-ask.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { THIS_BUILD, versionFor } from '../transport/protocol-version.ts';
import { consoleUrl, type RemoteConsoleConfig } from './console-config.ts';
import type { ConsoleTokens, ConsoleType } from './console-tokens.ts';

export interface GetRemoteConsoleInput {
  principal: Principal;
  serverId: string;
  /** Nova's `protocol` (rdp and mks included: they are refused here, as Nova refuses them). */
  protocol: string;
  /** Nova's console `type`, as the client sent it. */
  type: string;
  requestId: string;
  deadline: number;
}

export interface GetRemoteConsoleDeps {
  directory: ServerLookup & HostLookup;
  requester: HostRequester;
  /** Undefined when remote consoles are not configured: every type is then unavailable. */
  consoleTokens: ConsoleTokens | undefined;
  consoles: RemoteConsoleConfig;
  now?: () => number;
  protocolMax?: number;
}

/** The one console type each protocol serves here (Nova's compute manager checks the same pairs). */
const TYPE_OF: Readonly<Record<RemoteConsoleProtocol, ConsoleType>> = { vnc: 'novnc', spice: 'spice-html5', serial: 'serial' };

const unavailable = (what: string) => new VmconsoleError('BadRequest', `Unavailable console type ${what}.`);

/**
 * Nova's get_vnc_console / get_spice_console / get_serial_console (API, compute manager and
 * driver in one): the server the caller may see, the console type checked against its protocol,
 * the console's port asked of the server's host (console.endpoint), then a token bound to
 * server, project, type, host and port, and the URL that carries it. Errors are Nova's: 404
 * unknown server, 400 unavailable or invalid type, 409 not ready, 501 the host's driver cannot.
 */
export async function getRemoteConsole(input: GetRemoteConsoleInput, deps: GetRemoteConsoleDeps): Promise<{ url: string }> {
  const now = deps.now ?? Date.now;
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  // Removed or never-enabled console kinds, in Nova's words: rdp went with the Hyper-V driver,
  // mks has no driver here ([mks] enabled = false).
  if (input.protocol === 'rdp') throw unavailable('rdp');
  if (input.protocol === 'mks') throw unavailable(input.type);
  const protocol = input.protocol as RemoteConsoleProtocol;
  const expected = TYPE_OF[protocol];
  if (expected === undefined) throw new VmconsoleError('NotImplemented', 'The requested functionality is not supported.');
  const base = deps.consoleTokens ? deps.consoles.baseUrls[expected] : undefined;
  if (base === undefined) throw unavailable(input.type);
  if (input.type !== expected) throw new VmconsoleError('BadRequest', `Invalid console type ${input.type}`);
  if (server.state !== 'active') {
    throw new VmconsoleError('NoHost', `Instance ${server.id} is not ready`, { detail: `server state ${server.state}` });
  }
  const host = await hostToAsk(deps.directory, server, now());
  const version = versionFor(host, { ...THIS_BUILD, max: deps.protocolMax ?? THIS_BUILD.max });
  let endpoint;
  try {
    endpoint = await askHost(deps.requester, 'console.endpoint', host.host, {
      server: { id: server.id, instanceName: server.instanceName },
      protocol,
    }, { deadline: input.deadline, requestId: input.requestId, now, version });
  } catch (err) {
    if (!isVmconsoleError(err)) throw err;
    // The host's words are for the operator; the tenant reads Nova's.
    if (err.code === 'NoConsole') throw new VmconsoleError('BadRequest', `Unavailable console type ${protocol}.`, { detail: err.detail ?? err.message, cause: err });
    if (err.code === 'NotImplemented') throw new VmconsoleError('NotImplemented', 'The requested functionality is not supported.', { detail: err.detail ?? err.message, cause: err });
    throw err;
  }
  const { token } = await deps.consoleTokens!.mint({
    serverId: server.id,
    projectId: server.projectId,
    protocol,
    consoleType: expected,
    host: host.host,
    port: endpoint.port,
    tlsPort: endpoint.tlsPort,
    accessUrlBase: base,
  }, deps.consoles.tokenTtlS);
  return { url: consoleUrl(expected, base, token) };
}
