import { z } from 'zod';
import { DEFAULT_TOKEN_TTL_S, type ConsoleType } from './console-tokens.ts';

/**
 * Where the API sends browsers for each console type, and how long its tokens live (Nova's
 * [vnc] novncproxy_base_url, [spice] html5proxy_base_url, [serial_console] base_url,
 * [consoleauth] token_ttl). Read with the edge's configuration:
 *   VMCONSOLE_CONSOLE_TOKENS_TABLE  the token table; unset = remote consoles off (every console
 *                                   type answers Nova's "Unavailable console type")
 *   VMCONSOLE_NOVNC_BASE_URL        default http://127.0.0.1:6080/vnc_lite.html
 *   VMCONSOLE_SPICE_BASE_URL        default http://127.0.0.1:6082/spice_auto.html
 *   VMCONSOLE_SERIAL_BASE_URL       default ws://127.0.0.1:6083/
 *                                   `off` turns that console type off (Nova's `enabled = false`)
 *   VMCONSOLE_CONSOLE_TOKEN_TTL_S   default 600, at most 86400
 */
export interface RemoteConsoleConfig {
  tokensTable: string | undefined;
  /** Per console type; undefined = that type is off. */
  baseUrls: Readonly<Record<ConsoleType, string | undefined>>;
  tokenTtlS: number;
}

const DEFAULT_BASE_URLS: Readonly<Record<ConsoleType, string>> = {
  novnc: 'http://127.0.0.1:6080/vnc_lite.html',
  'spice-html5': 'http://127.0.0.1:6082/spice_auto.html',
  serial: 'ws://127.0.0.1:6083/',
};

const httpUrl = z.string().max(1024).regex(/^https?:\/\/[^\s?#]+$/, 'must be an http(s) URL without query or fragment');
const wsUrl = z.string().max(1024).regex(/^wss?:\/\/[^\s?#]+$/, 'must be a ws(s) URL without query or fragment');

function baseUrl(env: NodeJS.ProcessEnv, name: string, type: ConsoleType, schema: z.ZodString): string | undefined {
  const raw = env[name]?.trim() || DEFAULT_BASE_URLS[type];
  if (raw === 'off') return undefined;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`invalid edge configuration (${name}: ${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

export function readRemoteConsoleConfig(env: NodeJS.ProcessEnv = process.env): RemoteConsoleConfig {
  const ttl = z.coerce.number().int().min(1).max(86_400).safeParse(env.VMCONSOLE_CONSOLE_TOKEN_TTL_S?.trim() || DEFAULT_TOKEN_TTL_S);
  if (!ttl.success) throw new Error(`invalid edge configuration (VMCONSOLE_CONSOLE_TOKEN_TTL_S: ${ttl.error.issues[0]?.message})`);
  const table = env.VMCONSOLE_CONSOLE_TOKENS_TABLE?.trim() || undefined;
  if (table !== undefined && table.length < 3) throw new Error('invalid edge configuration (VMCONSOLE_CONSOLE_TOKENS_TABLE: at least 3 characters)');
  return {
    tokensTable: table,
    baseUrls: {
      novnc: baseUrl(env, 'VMCONSOLE_NOVNC_BASE_URL', 'novnc', httpUrl),
      'spice-html5': baseUrl(env, 'VMCONSOLE_SPICE_BASE_URL', 'spice-html5', httpUrl),
      serial: baseUrl(env, 'VMCONSOLE_SERIAL_BASE_URL', 'serial', wsUrl),
    },
    tokenTtlS: ttl.data,
  };
}

/** Nova's ConsoleAuthToken.access_url: noVNC reads the token from `path` (noVNC >= 1.1), the others from `token`. */
export function consoleUrl(type: ConsoleType, base: string, token: string): string {
  if (type === 'novnc') return `${base}?${new URLSearchParams({ path: `?token=${token}` }).toString()}`;
  return `${base}?token=${encodeURIComponent(token)}`;
}
