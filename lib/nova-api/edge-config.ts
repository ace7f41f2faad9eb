import { z } from 'zod';

/**
 * The edge functions' settings, read once per execution environment; a bad value fails the
 * function's initialisation with a clear message instead of failing requests later.
 *   VMCONSOLE_TABLE               directory table
 *   VMCONSOLE_REPLY_QUEUE_PREFIX  name prefix of this edge's reply queue
 *   VMCONSOLE_HOST_QUEUE_PREFIX   host queue names are this + host name, in the edge's own account
 *                                 (the edge never sends to a queue URL read from the directory)
 *   VMCONSOLE_REPLY_TIMEOUT_MS    how long to wait for a host (default 10000; at most 25000 so the
 *                                 whole request fits inside API Gateway's 30 s)
 */
const EdgeConfigSchema = z.object({
  tableName: z.string().min(3),
  replyQueuePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  hostQueuePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  replyTimeoutMs: z.coerce.number().int().min(100).max(25_000),
});
export type EdgeConfig = z.infer<typeof EdgeConfigSchema>;

export function readEdgeConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const parsed = EdgeConfigSchema.safeParse({
    tableName: env.VMCONSOLE_TABLE,
    replyQueuePrefix: env.VMCONSOLE_REPLY_QUEUE_PREFIX || 'vmconsole-reply-',
    hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX || 'vmconsole-host-',
    replyTimeoutMs: env.VMCONSOLE_REPLY_TIMEOUT_MS || 10_000,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new Error(`invalid edge configuration (${problems})`);
  }
  return parsed.data;
}
