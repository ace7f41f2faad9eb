import type { ServerRecord } from '../contracts/records.ts';
import { MAX_BATCH_CHUNK } from '../contracts/messages.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';

export interface ChunkPlan {
  /** Servers per console.output.batch request (at most MAX_BATCH_CHUNK). */
  chunkSize: number;
  /** Chunks one host works on at once: a 1,000-server project does not flood its host. */
  perHostInFlight: number;
  /** How long a chunk may take before its host counts as silent. */
  chunkWaitMs: number;
}

/**
 * 50 servers per chunk keep a chunk's summary small and its work (50 log windows, five sends) a
 * second or two; two chunks per host keep at most 20 log reads in flight there (of the agent's 16
 * request slots, two); 10 s is the HTTP API's own wait for a host.
 */
export const DEFAULT_CHUNK_PLAN: ChunkPlan = { chunkSize: MAX_BATCH_CHUNK, perHostInFlight: 2, chunkWaitMs: 10_000 };

export interface HostShare {
  host: string;
  /** The protocol version to ask this host in (versionFor its record); PROTOCOL_VERSION if not given. */
  version?: number;
  targets: Array<{ seq: number; server: ServerRecord }>;
}

export interface FanOutInput {
  shares: HostShare[];
  total: number;
  clientRequestId: string;
  replyTo: string;
  length: number | null;
  /** Epoch ms: no chunk is waited for after it. */
  deadline: number;
}

/** A server the router answers itself (the agent never will). */
export interface RouterAnswer {
  seq: number;
  serverId: string;
  error: VmconsoleError;
}

export interface FanOutDeps {
  requester: HostRequester;
  /** Send these servers' failures to the client (the router's own replies). */
  answer(failures: RouterAnswer[]): Promise<void>;
  now?: () => number;
  plan?: ChunkPlan;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

function hostTimeout(host: string, waitedMs: number, requestId: string): VmconsoleError {
  return new VmconsoleError('HostTimeout', `The compute host of this server did not answer within ${seconds(waitedMs)}.`, {
    detail: `host ${host} did not answer part of automation request ${requestId} within ${seconds(waitedMs)}`,
  });
}

/**
 * Each host's share of a batch, in chunks, through askHost: the agent answers each server on the
 * client's queue and tells us which seqs it sent. Every seq it did not send by the chunk's deadline
 * is answered here HostTimeout, so a host dying mid-batch still completes the client's batch by
 * the deadline. A host that let one chunk time out is silent for the rest of the batch: its other
 * chunks are answered HostTimeout at once instead of each waiting in turn.
 */
export async function askHostsInChunks(input: FanOutInput, deps: FanOutDeps): Promise<{ chunks: number; hostTimeouts: number }> {
  const now = deps.now ?? Date.now;
  const plan = deps.plan ?? DEFAULT_CHUNK_PLAN;
  let chunks = 0;
  let hostTimeouts = 0;
  await Promise.all(input.shares.map(async ({ host, targets, version }) => {
    const pending: Array<HostShare['targets']> = [];
    for (let i = 0; i < targets.length; i += plan.chunkSize) pending.push(targets.slice(i, i + plan.chunkSize));
    let silentSince: number | undefined;
    const started = now();
    const fail = (chunk: HostShare['targets'], error: VmconsoleError) => deps.answer(chunk.map(({ seq, server }) => ({ seq, serverId: server.id, error })));

    const worker = async () => {
      for (let chunk = pending.shift(); chunk; chunk = pending.shift()) {
        chunks += 1;
        if (silentSince !== undefined || now() >= input.deadline) {
          hostTimeouts += chunk.length;
          await fail(chunk, hostTimeout(host, now() - started, input.clientRequestId));
          continue;
        }
        const sentAt = now();
        const deadline = Math.min(input.deadline, sentAt + plan.chunkWaitMs);
        try {
          const { sent } = await askHost(deps.requester, 'console.output.batch', host, {
            servers: chunk.map(({ seq, server }) => ({ seq, server: { id: server.id, instanceName: server.instanceName } })),
            total: input.total,
            clientRequestId: input.clientRequestId,
            replyTo: input.replyTo,
            length: input.length,
          }, { deadline, requestId: input.clientRequestId, now, ...(version !== undefined && { version }) });
          const answered = new Set(sent);
          const unsent = chunk.filter((t) => !answered.has(t.seq));
          if (unsent.length > 0) {
            hostTimeouts += unsent.length;
            await fail(unsent, hostTimeout(host, now() - sentAt, input.clientRequestId));
          }
        } catch (err) {
          if (isVmconsoleError(err) && err.code === 'HostTimeout') {
            silentSince = now();
            hostTimeouts += chunk.length;
          }
          // The host refused the whole chunk (an allow-list it does not share, a malformed summary)
          // or SQS failed us: its servers hear why (the expose rule applies when it is sent).
          await fail(chunk, isVmconsoleError(err) ? err : new VmconsoleError('Internal', 'asking a host failed', { detail: String(err), cause: err }));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(plan.perHostInFlight, pending.length) }, worker));
  }));
  return { chunks, hostTimeouts };
}
