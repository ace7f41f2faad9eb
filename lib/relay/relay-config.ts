import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

function readPem(name: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`invalid relay configuration (${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!text.includes('-----BEGIN ')) throw new Error(`invalid relay configuration (${name}: ${file} is not PEM)`);
  return text;
}
import { z } from 'zod';

/**
 * The console relay's settings, read once at start; a bad value stops it with the variable named.
 *
 *   VMCONSOLE_RELAY_LISTEN_HOST        address of every listener (default 127.0.0.1; 0.0.0.0 in a container)
 *   VMCONSOLE_RELAY_NOVNC_PORT         noVNC page + VNC WebSocket (Nova's novncproxy, default 6080)
 *   VMCONSOLE_RELAY_SPICE_PORT         spice_auto.html + SPICE WebSocket (Nova's spicehtml5proxy, 6082)
 *   VMCONSOLE_RELAY_SERIAL_PORT        serial WebSocket + serial.html (Nova's serialproxy, 6083)
 *   VMCONSOLE_RELAY_TUNNEL_PORT        where agents dial in (6084); faces compute hosts, not browsers
 *   VMCONSOLE_RELAY_TUNNEL_URL         the ws:// or wss:// URL agents dial for THIS instance, up to
 *                                      the tunnel path (default ws://<listen host>:<tunnel port>/tunnel);
 *                                      agents must list it in VMCONSOLE_RELAY_URL_PREFIXES
 *   VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE, VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE
 *                                      PEM files: the tunnel listener speaks TLS (wss://) itself, so
 *                                      console bytes cross the network to compute hosts encrypted
 *                                      without a TLS terminator per instance (both or neither)
 *   VMCONSOLE_RELAY_SECRET             HMAC key for tunnel ids, >= 32 bytes; default: random per
 *                                      process (only the instance that signs a tunnel id checks it)
 *   VMCONSOLE_CONSOLE_ALLOWED_ORIGINS  comma-separated host names browsers may open consoles from
 *                                      (Nova's [console] allowed_origins); the request's own Host
 *                                      is accepted for that request only, as in Nova
 *   VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER   default 10 (WebSockets: spice-html5 opens one per
 *                                             SPICE channel, 4-6 for one viewer)
 *   VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT  default 40
 *   VMCONSOLE_RELAY_MAX_PENDING        sessions between the 101 and an open tunnel, all together (default 256)
 *   VMCONSOLE_RELAY_IDLE_TIMEOUT_S     a session with no byte either way this long is closed (default 900)
 *   VMCONSOLE_RELAY_MAX_FRAME_BYTES    largest WebSocket message accepted from a browser or an agent (default 1 MiB)
 *   VMCONSOLE_RELAY_HANDSHAKE_TIMEOUT_MS  a connection must send its whole request this fast (default 10000)
 *   VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS  the agent must dial back this fast (default 10000, at most 30000)
 * plus what it reads tokens, servers and hosts from and asks hosts through, as the edge:
 * VMCONSOLE_CONSOLE_TOKENS_TABLE, VMCONSOLE_TABLE, VMCONSOLE_HOST_QUEUE_PREFIX,
 * VMCONSOLE_REPLY_QUEUE_PREFIX, AWS credentials/region (and the local endpoints).
 */
export interface RelayConfig {
  listenHost: string;
  ports: { novnc: number; spice: number; serial: number; tunnel: number };
  tunnelUrl: string | undefined;
  /** PEM certificate chain and key of the tunnel listener; plain ws:// without them. */
  tunnelTls: { cert: string; key: string } | undefined;
  secret: Buffer;
  allowedOrigins: readonly string[];
  maxSessionsPerServer: number;
  maxSessionsPerProject: number;
  maxPending: number;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  handshakeTimeoutMs: number;
  tunnelTimeoutMs: number;
  tokensTable: string;
  directoryTable: string;
  hostQueuePrefix: string;
  replyQueuePrefix: string;
}

const port = z.coerce.number().int().min(0).max(65535);
const count = z.coerce.number().int().min(1).max(1_000_000);

const Schema = z.object({
  VMCONSOLE_RELAY_LISTEN_HOST: z.string().min(1).max(255),
  VMCONSOLE_RELAY_NOVNC_PORT: port,
  VMCONSOLE_RELAY_SPICE_PORT: port,
  VMCONSOLE_RELAY_SERIAL_PORT: port,
  VMCONSOLE_RELAY_TUNNEL_PORT: port,
  VMCONSOLE_RELAY_TUNNEL_URL: z.string().max(1024).regex(/^wss?:\/\/[^\s?#]+[^/\s?#]$/, 'must be a ws:// or wss:// URL without query, fragment or trailing slash').optional(),
  VMCONSOLE_RELAY_SECRET: z.string().min(32, 'must be at least 32 bytes').optional(),
  VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: z.string().min(1).optional(),
  VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE: z.string().min(1).optional(),
  VMCONSOLE_CONSOLE_ALLOWED_ORIGINS: z.string().max(4096),
  VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER: count,
  VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT: count,
  VMCONSOLE_RELAY_MAX_PENDING: count,
  VMCONSOLE_RELAY_IDLE_TIMEOUT_S: z.coerce.number().int().min(1).max(86_400),
  VMCONSOLE_RELAY_MAX_FRAME_BYTES: z.coerce.number().int().min(1024).max(64 * 1024 * 1024),
  VMCONSOLE_RELAY_HANDSHAKE_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000),
  VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000),
  VMCONSOLE_CONSOLE_TOKENS_TABLE: z.string().min(3),
  VMCONSOLE_TABLE: z.string().min(3),
  VMCONSOLE_HOST_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  VMCONSOLE_REPLY_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
});

export function readRelayConfig(env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const value = (name: string, fallback?: string | number) => env[name]?.trim() || fallback;
  const parsed = Schema.safeParse({
    VMCONSOLE_RELAY_LISTEN_HOST: value('VMCONSOLE_RELAY_LISTEN_HOST', '127.0.0.1'),
    VMCONSOLE_RELAY_NOVNC_PORT: value('VMCONSOLE_RELAY_NOVNC_PORT', 6080),
    VMCONSOLE_RELAY_SPICE_PORT: value('VMCONSOLE_RELAY_SPICE_PORT', 6082),
    VMCONSOLE_RELAY_SERIAL_PORT: value('VMCONSOLE_RELAY_SERIAL_PORT', 6083),
    VMCONSOLE_RELAY_TUNNEL_PORT: value('VMCONSOLE_RELAY_TUNNEL_PORT', 6084),
    VMCONSOLE_RELAY_TUNNEL_URL: value('VMCONSOLE_RELAY_TUNNEL_URL'),
    VMCONSOLE_RELAY_SECRET: value('VMCONSOLE_RELAY_SECRET'),
    VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE: value('VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE'),
    VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE: value('VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE'),
    VMCONSOLE_CONSOLE_ALLOWED_ORIGINS: value('VMCONSOLE_CONSOLE_ALLOWED_ORIGINS', ''),
    VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER: value('VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER', 10),
    VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT: value('VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT', 40),
    VMCONSOLE_RELAY_MAX_PENDING: value('VMCONSOLE_RELAY_MAX_PENDING', 256),
    VMCONSOLE_RELAY_IDLE_TIMEOUT_S: value('VMCONSOLE_RELAY_IDLE_TIMEOUT_S', 900),
    VMCONSOLE_RELAY_MAX_FRAME_BYTES: value('VMCONSOLE_RELAY_MAX_FRAME_BYTES', 1024 * 1024),
    VMCONSOLE_RELAY_HANDSHAKE_TIMEOUT_MS: value('VMCONSOLE_RELAY_HANDSHAKE_TIMEOUT_MS', 10_000),
    VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS: value('VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS', 10_000),
    VMCONSOLE_CONSOLE_TOKENS_TABLE: value('VMCONSOLE_CONSOLE_TOKENS_TABLE'),
    VMCONSOLE_TABLE: value('VMCONSOLE_TABLE'),
    VMCONSOLE_HOST_QUEUE_PREFIX: value('VMCONSOLE_HOST_QUEUE_PREFIX', 'vmconsole-host-'),
    VMCONSOLE_REPLY_QUEUE_PREFIX: value('VMCONSOLE_REPLY_QUEUE_PREFIX', 'vmconsole-reply-'),
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new Error(`invalid relay configuration (${problems})`);
  }
  const c = parsed.data;
  if ((c.VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE === undefined) !== (c.VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE === undefined)) {
    throw new Error('invalid relay configuration (VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE and VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE go together)');
  }
  const tunnelTls = c.VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE === undefined ? undefined : {
    cert: readPem('VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE', c.VMCONSOLE_RELAY_TUNNEL_TLS_CERT_FILE),
    key: readPem('VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE', c.VMCONSOLE_RELAY_TUNNEL_TLS_KEY_FILE!),
  };
  return {
    tunnelTls,
    listenHost: c.VMCONSOLE_RELAY_LISTEN_HOST,
    ports: { novnc: c.VMCONSOLE_RELAY_NOVNC_PORT, spice: c.VMCONSOLE_RELAY_SPICE_PORT, serial: c.VMCONSOLE_RELAY_SERIAL_PORT, tunnel: c.VMCONSOLE_RELAY_TUNNEL_PORT },
    tunnelUrl: c.VMCONSOLE_RELAY_TUNNEL_URL,
    secret: c.VMCONSOLE_RELAY_SECRET ? Buffer.from(c.VMCONSOLE_RELAY_SECRET, 'utf8') : randomBytes(32),
    allowedOrigins: c.VMCONSOLE_CONSOLE_ALLOWED_ORIGINS.split(',').map((o) => o.trim().toLowerCase()).filter((o) => o !== ''),
    maxSessionsPerServer: c.VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER,
    maxSessionsPerProject: c.VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT,
    maxPending: c.VMCONSOLE_RELAY_MAX_PENDING,
    idleTimeoutMs: c.VMCONSOLE_RELAY_IDLE_TIMEOUT_S * 1000,
    maxFrameBytes: c.VMCONSOLE_RELAY_MAX_FRAME_BYTES,
    handshakeTimeoutMs: c.VMCONSOLE_RELAY_HANDSHAKE_TIMEOUT_MS,
    tunnelTimeoutMs: c.VMCONSOLE_RELAY_TUNNEL_TIMEOUT_MS,
    tokensTable: c.VMCONSOLE_CONSOLE_TOKENS_TABLE,
    directoryTable: c.VMCONSOLE_TABLE,
    hostQueuePrefix: c.VMCONSOLE_HOST_QUEUE_PREFIX,
    replyQueuePrefix: c.VMCONSOLE_REPLY_QUEUE_PREFIX,
  };
}
