import type { ServerRecord } from '../contracts/records.ts';
import type { ServerLookup } from '../servers/find-visible-server.ts';
import type { ConsoleTokenRecord, ConsoleType } from './console-tokens.ts';

export interface TokenStore {
  validate(token: string): Promise<ConsoleTokenRecord | undefined>;
  revoke(token: string): Promise<void>;
}

export type SessionRefusal = 'no token' | 'invalid token' | 'wrong console type' | 'server gone' | 'server moved';

/**
 * What a console token opens now, checked as Nova's proxy does before connecting: the token exists
 * and has not expired (Nova's InvalidToken), it is for this proxy's console type, and its server
 * still exists on the host the token was minted for. A server deleted or moved since revokes the
 * token (Nova deletes an instance's tokens on delete and after a migration); the host's agent
 * still re-checks the port itself (console.connect).
 */
export async function authorizeConsoleSession(
  token: string,
  listener: ConsoleType,
  deps: { tokens: TokenStore; directory: ServerLookup },
): Promise<{ ok: true; grant: ConsoleTokenRecord; server: ServerRecord } | { ok: false; why: SessionRefusal }> {
  if (token === '') return { ok: false, why: 'no token' };
  const grant = await deps.tokens.validate(token);
  if (!grant) return { ok: false, why: 'invalid token' };
  if (grant.consoleType !== listener) return { ok: false, why: 'wrong console type' };
  const server = await deps.directory.getServer(grant.serverId);
  if (!server || server.projectId !== grant.projectId) {
    await deps.tokens.revoke(token);
    return { ok: false, why: 'server gone' };
  }
  if (server.host !== grant.host) {
    await deps.tokens.revoke(token);
    return { ok: false, why: 'server moved' };
  }
  return { ok: true, grant, server };
}
