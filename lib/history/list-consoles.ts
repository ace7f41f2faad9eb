import type { Principal } from '../auth/principal.ts';
import { isVmconsoleError } from '../errors.ts';
import { findVisibleServer } from '../servers/find-visible-server.ts';
import { askHost } from '../transport/ask-host.ts';
import { usableHost, type HistoryDeps } from './read-console.ts';

export interface ConsoleListing {
  consoles: { port: number; name: string | null; history: boolean; next: number | null }[];
  /** The host could not be asked: consoles it has may be missing from the list. */
  incomplete: boolean;
}

/**
 * GET /vmconsole/v1/servers/{id}/consoles: every console of the server that has a log, as its host
 * says (and whether the host keeps its history), plus consoles S3 has history of that the host no
 * longer names (the server moved, or its host is down: then the answer is marked incomplete).
 */
export async function listConsoles(input: { principal: Principal; serverId: string; requestId: string; deadline: number }, deps: HistoryDeps): Promise<ConsoleListing> {
  const now = deps.now ?? Date.now;
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const consoles = new Map<number, ConsoleListing['consoles'][number]>();
  let incomplete = false;
  const usable = usableHost(await deps.directory.getHost(server.host), now());
  if (usable.ok) {
    try {
      const { ports } = await askHost(deps.requester, 'console.ports', server.host, { server: { id: server.id, instanceName: server.instanceName } }, {
        deadline: Math.min(input.deadline, now() + deps.replyTimeoutMs), requestId: input.requestId, now, version: usable.version,
      });
      for (const p of ports) consoles.set(p.port, p);
    } catch (err) {
      if (!isVmconsoleError(err) || err.code === 'Internal') throw err;
      incomplete = true;
    }
  } else incomplete = true;
  if (deps.store) {
    try {
      for (const port of await deps.store.listPorts(server.id)) {
        if (!consoles.has(port)) consoles.set(port, { port, name: null, history: true, next: (await deps.store.getHead(server.id, port))?.next ?? null });
      }
    } catch (err) {
      deps.logger.warn('console history unavailable in S3', { requestId: input.requestId, serverId: server.id, err: String(err) });
      incomplete = true;
    }
  }
  if (consoles.size === 0 && incomplete && !usable.ok) throw usable.error;
  return { consoles: [...consoles.values()].sort((a, b) => a.port - b.port), incomplete };
}


