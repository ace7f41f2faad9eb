import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PROTOCOL_VERSION, MIN_PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import type { ServerRecord } from '../../lib/contracts/records.ts';
import { awsClientOptions } from '../../lib/aws-client-options.ts';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { ConsoleTokens, ensureConsoleTokensTable } from '../../lib/remote-consoles/console-tokens.ts';
import { startRelay, type RunningRelay } from '../../lib/relay/main.ts';
import { createHandler as createRemoteConsoleHandler } from '../../functions/create-remote-console.ts';
import { createHandler as createServerActionHandler } from '../../functions/server-action.ts';
import { startLocalAws, type LocalAws } from './aws-local.ts';
import { consoleKey, startConsoleHostStandIn, type ConsoleHostStandIn } from './console-host-stand-in.ts';
import { edgeDependencies } from './edge-dependencies.ts';
import { invoke } from './http-event.ts';
import { recordingLogger, type LogEntry } from './recording-logger.ts';
import { startEchoServer, startRfbServer, type TcpEndpoint } from './rfb-server.ts';

export const CONSOLE_HOST = 'h-console';

export interface ConsoleRelayRig {
  aws: LocalAws;
  /** The relay's environment, as `npm run relay` would read it. */
  relayEnv: Record<string, string>;
  relay: RunningRelay;
  /** What the relay logged (its refusals say why). */
  relayLog: LogEntry[];
  host: ConsoleHostStandIn;
  tokens: ConsoleTokens;
  /** vm: proj-a, active, VNC (RFB server), SPICE (RFB server again) and serial (echo) consoles; peer: proj-a, VNC; other: proj-b; stopped: proj-a, stopped. */
  servers: { vm: ServerRecord; peer: ServerRecord; other: ServerRecord; stopped: ServerRecord };
  rfb: TcpEndpoint;
  echo: TcpEndpoint & { received: Buffer[] };
  /** POST /v2.1/servers/{id}/remote-consoles through the real handler; `token` is the noauth user:project. */
  remoteConsole(serverId: string, body: unknown, options?: { microversion?: string; token?: string }): Promise<{ status: number; json: any }>;
  /** POST /v2.1/servers/{id}/action. */
  action(serverId: string, body: unknown, options?: { microversion?: string; token?: string }): Promise<{ status: number; json: any }>;
}

function server(name: string, projectId: string, state: ServerRecord['state'] = 'active'): ServerRecord {
  return { id: randomUUID(), name, projectId, userId: `${projectId}-user`, host: CONSOLE_HOST, hypervisor: 'libvirt', state, instanceName: `instance-${name}`, updatedAt: Date.now() };
}

/**
 * The remote-console path on real parts: fauxqs + dynalite, the token table, a console host
 * stand-in on its real host queue (test/helpers/console-host-stand-in.ts) in front of a real RFB
 * server and a real echoing serial line, the relay as `npm run relay` starts it (free ports), and
 * the API's two handlers with base URLs pointing at that relay.
 */
export async function startConsoleRelayRig(options: { relayEnv?: Record<string, string>; edgeEnv?: Record<string, string>; tunnelTls?: { certFile: string; keyFile: string; ca: string | undefined } } = {}): Promise<ConsoleRelayRig & { stop(): Promise<void> }> {
  const rig = {} as ConsoleRelayRig & { stop(): Promise<void> };
  const stops: Array<() => Promise<unknown>> = [];
  rig.stop = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const aws = await startLocalAws();
    stops.push(() => aws.stop());
    const tokensTable = `${aws.env.VMCONSOLE_TABLE}-console-tokens`;
    const dynamo = new DynamoDBClient(awsClientOptions(aws.dynamodbEndpoint, aws.env));
    await ensureConsoleTokensTable(dynamo, tokensTable);
    dynamo.destroy();
    const [rfb, echo] = await Promise.all([startRfbServer(), startEchoServer()]);
    stops.push(() => rfb.stop(), () => echo.stop());
    const host = await startConsoleHostStandIn(aws, CONSOLE_HOST, { ...(options.tunnelTls?.ca !== undefined && { tunnelCa: options.tunnelTls.ca }) });
    stops.push(() => host.stop());
    await aws.directory.putHost({ host: CONSOLE_HOST, queueUrl: host.queueUrl, hypervisor: 'libvirt', heartbeatAt: Date.now(), heartbeatIntervalMs: 3_600_000, agentVersion: 'test', protocolMin: MIN_PROTOCOL_VERSION, protocolMax: PROTOCOL_VERSION });
    const servers = { vm: server('vm-1', 'proj-a'), peer: server('peer-1', 'proj-a'), other: server('other-1', 'proj-b'), stopped: server('stopped-1', 'proj-a', 'stopped') };
    await aws.directory.putServers(Object.values(servers));
    host.consoles.set(consoleKey(servers.vm.id, 'vnc'), { port: rfb.port });
    host.consoles.set(consoleKey(servers.vm.id, 'spice'), { port: rfb.port });
    host.consoles.set(consoleKey(servers.vm.id, 'serial'), { port: echo.port });
    host.consoles.set(consoleKey(servers.peer.id, 'vnc'), { port: rfb.port });
    host.consoles.set(consoleKey(servers.other.id, 'vnc'), { port: rfb.port });

    const relayEnv: Record<string, string> = {
      ...aws.env,
      VMCONSOLE_CONSOLE_TOKENS_TABLE: tokensTable,
      VMCONSOLE_RELAY_NOVNC_PORT: '0',
      VMCONSOLE_RELAY_SPICE_PORT: '0',
      VMCONSOLE_RELAY_SERIAL_PORT: '0',
      VMCONSOLE_RELAY_TUNNEL_PORT: '0',
      VMCONSOLE_CONSOLE_ALLOWED_ORIGINS: 'console.example.test',
      ...(options.tunnelTls && { VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: options.tunnelTls.certFile, VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE: options.tunnelTls.keyFile }),
      ...options.relayEnv,
    };
    const relayLog = recordingLogger();
    const relay = await startRelay(relayEnv, { logger: relayLog });
    stops.push(() => relay.stop());
    const serialBase = relay.addresses.serial.replace(/^http/, 'ws');
    const deps = edgeDependencies({
      ...aws.env,
      VMCONSOLE_REPLY_TIMEOUT_MS: '5000',
      VMCONSOLE_CONSOLE_TOKENS_TABLE: tokensTable,
      VMCONSOLE_NOVNC_BASE_URL: `${relay.addresses.novnc}/vnc_lite.html`,
      VMCONSOLE_SPICE_BASE_URL: `${relay.addresses.spice}/spice_auto.html`,
      VMCONSOLE_SERIAL_BASE_URL: `${serialBase}/`,
      ...options.edgeEnv,
    });
    stops.push(() => deps.requester.close());
    const remoteConsoleHandler = createRemoteConsoleHandler(deps);
    const actionHandler = createServerActionHandler(deps);
    const headers = (o: { microversion?: string; token?: string } = {}) => ({
      'X-Auth-Token': o.token ?? 'alice:proj-a',
      ...(o.microversion ? { 'OpenStack-API-Version': `compute ${o.microversion}` } : {}),
    });
    Object.assign(rig, {
      aws, relayEnv, relay, relayLog: relayLog.entries, host, rfb, echo, servers,
      tokens: new ConsoleTokens(createDocumentClient(aws.env), tokensTable),
      remoteConsole: (serverId: string, body: unknown, o: { microversion?: string; token?: string } = {}) =>
        invoke(remoteConsoleHandler, { method: 'POST', path: `/v2.1/servers/${serverId}/remote-consoles`, pathParameters: { server_id: serverId }, headers: headers({ microversion: '2.6', ...o }), body }),
      action: (serverId: string, body: unknown, o: { microversion?: string; token?: string } = {}) =>
        invoke(actionHandler, { method: 'POST', path: `/v2.1/servers/${serverId}/action`, headers: headers(o), body }),
    } satisfies ConsoleRelayRig);
  } catch (err) {
    await rig.stop();
    throw err;
  }
  return rig;
}
