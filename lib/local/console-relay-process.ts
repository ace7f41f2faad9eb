import type { ChildProcess } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClientOptions } from '../aws-client-options.ts';
import { ensureConsoleTokensTable } from '../remote-consoles/console-tokens.ts';
import type { RelayAddresses } from '../relay/relay-server.ts';

/** The relay as `npm run relay` starts it (its entry prints its listeners as its first JSON line). */
export const RELAY_COMMAND = [process.execPath, ['lib/relay/main.ts']] as const;

export interface LocalRelay {
  child: ChildProcess;
  addresses: RelayAddresses;
  /** What the edge needs to mint tokens for this relay, and agents to dial it. */
  edgeEnv: Record<string, string>;
  agentEnv: Record<string, string>;
}

/**
 * The console relay of a local stack: its token table in the embedded DynamoDB, then the relay as
 * a supervised child on free ports (or the given ones), its output in `logFile`.
 */
export async function startLocalRelay(
  spawn: (command: string, args: readonly string[], env: Record<string, string>, logFile: string) => ChildProcess,
  baseEnv: Record<string, string>,
  options: { logFile: string; ports?: Partial<Record<'novnc' | 'spice' | 'serial' | 'tunnel', number>>; logLevel: string },
): Promise<LocalRelay> {
  const tokensTable = `${baseEnv.VMCONSOLE_TABLE!.replace(/-directory$/, '')}-console-tokens`;
  const dynamodb = new DynamoDBClient(awsClientOptions(baseEnv.VMCONSOLE_DYNAMODB_ENDPOINT, baseEnv));
  try {
    await ensureConsoleTokensTable(dynamodb, tokensTable);
  } finally {
    dynamodb.destroy();
  }
  // The log is appended to: only what this start writes counts.
  const from = (await stat(options.logFile).catch(() => undefined))?.size ?? 0;
  const child = spawn(RELAY_COMMAND[0], RELAY_COMMAND[1], {
    ...baseEnv,
    VMCONSOLE_CONSOLE_TOKENS_TABLE: tokensTable,
    VMCONSOLE_RELAY_LISTEN_HOST: '127.0.0.1',
    VMCONSOLE_RELAY_NOVNC_PORT: String(options.ports?.novnc ?? 0),
    VMCONSOLE_RELAY_SPICE_PORT: String(options.ports?.spice ?? 0),
    VMCONSOLE_RELAY_SERIAL_PORT: String(options.ports?.serial ?? 0),
    VMCONSOLE_RELAY_TUNNEL_PORT: String(options.ports?.tunnel ?? 0),
    POWERTOOLS_LOG_LEVEL: options.logLevel,
  }, options.logFile);
  const deadline = Date.now() + 30_000;
  let addresses: RelayAddresses | undefined;
  while (!addresses) {
    if (child.exitCode !== null) throw new Error(`the console relay exited with code ${child.exitCode}: ${await readFile(options.logFile, 'utf8').catch(() => '')}`);
    if (Date.now() > deadline) throw new Error(`the console relay did not start within 30 s (see ${options.logFile})`);
    const text = (await readFile(options.logFile).catch(() => Buffer.alloc(0))).subarray(from).toString('utf8');
    const line = text.split('\n').find((l) => l.startsWith('{"relay":'));
    if (line) addresses = (JSON.parse(line) as { relay: RelayAddresses }).relay;
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    child,
    addresses,
    edgeEnv: {
      VMCONSOLE_CONSOLE_TOKENS_TABLE: tokensTable,
      VMCONSOLE_NOVNC_BASE_URL: `${addresses.novnc}/vnc_lite.html`,
      VMCONSOLE_SPICE_BASE_URL: `${addresses.spice}/spice_auto.html`,
      VMCONSOLE_SERIAL_BASE_URL: `${addresses.serial.replace(/^http/, 'ws')}/`,
    },
    agentEnv: { VMCONSOLE_RELAY_URL_PREFIXES: `${addresses.tunnel}/` },
  };
}
