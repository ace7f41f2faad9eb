import { z } from 'zod';
import { HostName } from '../contracts/records.ts';

/** Everything an agent needs, read once at start-up; a bad value stops the agent with a clear message. */
const AgentConfigSchema = z.object({
  host: HostName,
  driver: z.enum(['libvirt', 'files']),
  tableName: z.string().min(3),
  hostQueuePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  replyQueuePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  /** Full URL prefix replies may go to; derived from our own queue URL when not given. */
  replyQueueUrlPrefix: z.string().regex(/^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?\/[A-Za-z0-9]+\/[A-Za-z0-9_-]*$/).optional(),
  logRoots: z.array(z.string().startsWith('/')).min(1),
  instancesDir: z.string().startsWith('/'),
  libvirtUri: z.string().min(1),
  concurrency: z.coerce.number().int().min(1).max(256),
  heartbeatMs: z.coerce.number().int().min(200).max(300_000),
}).refine((c) => c.hostQueuePrefix.length + c.host.length + '-dlq'.length <= 80, {
  message: 'host queue prefix + host name must leave room for "-dlq" within SQS\'s 80-character queue names',
  path: ['host'],
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export function readAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const parsed = AgentConfigSchema.safeParse({
    host: env.VMCONSOLE_HOST,
    driver: env.VMCONSOLE_DRIVER ?? 'libvirt',
    tableName: env.VMCONSOLE_TABLE,
    hostQueuePrefix: env.VMCONSOLE_HOST_QUEUE_PREFIX ?? 'vmconsole-host-',
    replyQueuePrefix: env.VMCONSOLE_REPLY_QUEUE_PREFIX ?? 'vmconsole-reply-',
    replyQueueUrlPrefix: env.VMCONSOLE_REPLY_QUEUE_URL_PREFIX || undefined,
    logRoots: (env.VMCONSOLE_LOG_ROOTS ?? '/var/log/libvirt/qemu:/var/lib/nova/instances').split(':').filter(Boolean),
    instancesDir: env.VMCONSOLE_INSTANCES_DIR ?? '/var/lib/nova/instances',
    libvirtUri: env.VMCONSOLE_LIBVIRT_URI ?? 'qemu:///system',
    concurrency: env.VMCONSOLE_CONCURRENCY ?? 16,
    heartbeatMs: env.VMCONSOLE_HEARTBEAT_MS ?? 10_000,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ');
    throw new Error(`invalid agent configuration (${problems})`);
  }
  return parsed.data;
}
