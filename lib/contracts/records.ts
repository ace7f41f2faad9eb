import { z } from 'zod';

/** Nova-style UUID check (any version; Nova accepts dashed and undashed but clients send dashed). */
export const ServerId = z.string().regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/);

/**
 * An SQS queue URL: scheme://host[:port]/account/name. Checked by shape, not with WHATWG URL
 * parsing, which rejects emulator hosts such as fauxqs's `sqs.us-east-1.127.0.0.1`.
 */
export const QUEUE_URL = /^https?:\/\/[A-Za-z0-9.-]{1,253}(?::\d{1,5})?\/[A-Za-z0-9]{1,32}\/[A-Za-z0-9_-]{1,80}$/;
export const QueueUrl = z.string().regex(QUEUE_URL, 'must be an SQS queue URL');

/**
 * Host names end up in queue names: keep them to what SQS allows. Never `...-dlq`: host `a-dlq`'s
 * queue would be host `a`'s dead-letter queue, which its IAM policy would then reach.
 */
export const HostName = z.string().regex(/^[A-Za-z0-9_-]{1,60}$/).refine((name) => !name.endsWith('-dlq'), 'must not end in -dlq (the name of a host queue\'s dead-letter queue)');

export const HypervisorKind = z.enum(['libvirt', 'files', 'hyperv']);
export type HypervisorKind = z.infer<typeof HypervisorKind>;

/** Nova's vm_state names, lower case, as `status` is derived from them. */
export const ServerState = z.enum(['active', 'stopped', 'paused', 'suspended', 'crashed', 'building', 'unknown']);
export type ServerState = z.infer<typeof ServerState>;

/** One server as the directory knows it; agents write these, the edge reads them. */
export const ServerRecord = z.object({
  id: ServerId,
  name: z.string().max(255),
  projectId: z.string().min(1).max(255),
  userId: z.string().min(1).max(255),
  host: HostName,
  hypervisor: HypervisorKind,
  state: ServerState,
  /** The hypervisor's own name for the server (libvirt domain name, Hyper-V VM name, instance dir). */
  instanceName: z.string().min(1).max(255),
  updatedAt: z.number().int(),
});
export type ServerRecord = z.infer<typeof ServerRecord>;

/** One compute host: where to send its requests and when it last proved it was alive. */
export const HostRecord = z.object({
  host: HostName,
  queueUrl: QueueUrl,
  hypervisor: HypervisorKind,
  heartbeatAt: z.number().int(),
  /** How often the agent promises to heartbeat; lib/directory/host-liveness.ts says when the edge calls it down. */
  heartbeatIntervalMs: z.number().int().positive(),
  agentVersion: z.string(),
  /**
   * Set by an agent stopped normally (SIGTERM/SIGINT, systemd stop) as its last write: the host is
   * in maintenance, not dead. The next start's first heartbeat rewrites the record without it.
   */
  /**
   * The protocol versions the agent speaks (lib/contracts/messages.ts). Absent: an agent from
   * before versions were advertised, which speaks version 1 only.
   */
  protocolMin: z.number().int().min(1).optional(),
  protocolMax: z.number().int().min(1).optional(),
  maintenance: z.strictObject({ since: z.number().int(), reason: z.string().max(255) }).optional(),
});
export type HostRecord = z.infer<typeof HostRecord>;

/**
 * What a host says it runs: written by the host into its own directory item (the only server
 * data IAM lets it write), applied to the server records by the registrar (lib/directory/registrar.ts).
 */
export const InventoryEntry = ServerRecord.pick({ id: true, name: true, projectId: true, userId: true, state: true, instanceName: true });
export type InventoryEntry = z.infer<typeof InventoryEntry>;
export const HostInventory = z.object({
  host: HostName,
  hypervisor: HypervisorKind,
  servers: z.array(InventoryEntry),
  updatedAt: z.number().int(),
});
export type HostInventory = z.infer<typeof HostInventory>;
