import { z } from 'zod';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../contracts/messages.ts';

/**
 * The edge functions' settings, read once per execution environment; a bad value fails the
 * function's initialisation with a clear message instead of failing requests later.
 *   VMCONSOLE_TABLE                   directory table
 *   VMCONSOLE_REPLY_QUEUE_PREFIX      name prefix of this edge's reply queue
 *   VMCONSOLE_HOST_QUEUE_PREFIX       host queue names are this + host name, in the edge's own
 *                                     account (the edge never sends to a URL read from the directory)
 *   VMCONSOLE_REPLY_TIMEOUT_MS        how long to wait for a host (default 10000; at most 25000 so
 *                                     the whole request fits inside API Gateway's 30 s)
 *   VMCONSOLE_RATE_PROJECT_PER_S      requests per second per project (default 10; 0 = no limit)
 *   VMCONSOLE_RATE_PROJECT_BURST      requests a project may send at once (default 20)
 *   VMCONSOLE_RATE_API_PER_S          requests per second for all projects (default 200; 0 = none)
 *   VMCONSOLE_RATE_API_BURST          burst for all projects (default 400)
 *   VMCONSOLE_PROTOCOL_MAX            newest host protocol version to send (default: this build's
 *                                     newest); the previous version makes the edge speak as the
 *                                     previous release did (rollback, upgrade tests)
 * Rate limits hold per execution environment (see README, "Rate limits").
 */
const rate = z.coerce.number().min(0).max(1_000_000);
const burst = z.coerce.number().int().min(1).max(1_000_000);

const EdgeConfigSchema = z.object({
  VMCONSOLE_TABLE: z.string().min(3),
  VMCONSOLE_REPLY_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  VMCONSOLE_HOST_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  VMCONSOLE_REPLY_TIMEOUT_MS: z.coerce.number().int().min(100).max(25_000),
  VMCONSOLE_RATE_PROJECT_PER_S: rate,
  VMCONSOLE_RATE_PROJECT_BURST: burst,
  VMCONSOLE_RATE_API_PER_S: rate,
  VMCONSOLE_RATE_API_BURST: burst,
  VMCONSOLE_PROTOCOL_MAX: z.coerce.number().int().min(MIN_PROTOCOL_VERSION).max(PROTOCOL_VERSION),
});

export interface EdgeConfig {
  tableName: string;
  replyQueuePrefix: string;
  hostQueuePrefix: string;
  replyTimeoutMs: number;
  /** The newest host protocol version sent (lib/contracts/messages.ts). */
  protocolMax: number;
  rateLimits: {
    project: { ratePerSecond: number; burst: number };
    api: { ratePerSecond: number; burst: number };
  };
}

export function readEdgeConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  // Empty strings count as unset: serverless.yml passes '' for variables nobody set.
  const value = (name: string, fallback: string | number) => env[name]?.trim() || fallback;
  const parsed = EdgeConfigSchema.safeParse({
    VMCONSOLE_TABLE: env.VMCONSOLE_TABLE,
    VMCONSOLE_REPLY_QUEUE_PREFIX: value('VMCONSOLE_REPLY_QUEUE_PREFIX', 'vmconsole-reply-'),
    VMCONSOLE_HOST_QUEUE_PREFIX: value('VMCONSOLE_HOST_QUEUE_PREFIX', 'vmconsole-host-'),
    VMCONSOLE_REPLY_TIMEOUT_MS: value('VMCONSOLE_REPLY_TIMEOUT_MS', 10_000),
    VMCONSOLE_RATE_PROJECT_PER_S: value('VMCONSOLE_RATE_PROJECT_PER_S', 10),
    VMCONSOLE_RATE_PROJECT_BURST: value('VMCONSOLE_RATE_PROJECT_BURST', 20),
    VMCONSOLE_RATE_API_PER_S: value('VMCONSOLE_RATE_API_PER_S', 200),
    VMCONSOLE_RATE_API_BURST: value('VMCONSOLE_RATE_API_BURST', 400),
    VMCONSOLE_PROTOCOL_MAX: value('VMCONSOLE_PROTOCOL_MAX', PROTOCOL_VERSION),
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new Error(`invalid edge configuration (${problems})`);
  }
  const c = parsed.data;
  return {
    tableName: c.VMCONSOLE_TABLE,
    replyQueuePrefix: c.VMCONSOLE_REPLY_QUEUE_PREFIX,
    hostQueuePrefix: c.VMCONSOLE_HOST_QUEUE_PREFIX,
    replyTimeoutMs: c.VMCONSOLE_REPLY_TIMEOUT_MS,
    protocolMax: c.VMCONSOLE_PROTOCOL_MAX,
    rateLimits: {
      project: { ratePerSecond: c.VMCONSOLE_RATE_PROJECT_PER_S, burst: c.VMCONSOLE_RATE_PROJECT_BURST },
      api: { ratePerSecond: c.VMCONSOLE_RATE_API_PER_S, burst: c.VMCONSOLE_RATE_API_BURST },
    },
  };
}
