import type { ServerRecord } from '../contracts/records.ts';
import { parseCrashEvent } from '../contracts/crash-events.ts';
import type { ServerLookup } from '../servers/find-visible-server.ts';
import { diagnoseServer, type DiagnoseDeps, type DiagnoseOutcome } from './diagnose-server.ts';

export interface EventDeps extends DiagnoseDeps {
  directory: DiagnoseDeps['directory'] & ServerLookup;
}

export type EventOutcome =
  | { kind: 'diagnosed'; outcome: DiagnoseOutcome }
  | { kind: 'ignored'; why: string };

/**
 * One events-queue message: parse it (lib/contracts/crash-events.ts: a malformed one throws
 * MalformedEvent, and the record ends in the DLQ), find the server in the directory, diagnose it.
 * The event only names a server: its owner, its host and what may be read come from the directory,
 * so an event cannot make one project's console readable to another. An unknown server is
 * dropped (logged), as is an alarm that is no crash. Anything that may work later (host down,
 * SNS unavailable) throws: the record comes back.
 */
export async function handleCrashEvent(body: string, context: { receivedAt: number; deadline: number; requestId: string }, deps: EventDeps): Promise<EventOutcome> {
  const parsed = parseCrashEvent(body, context.receivedAt);
  if (parsed.kind === 'ignored') return parsed;
  const { event } = parsed;
  const server: ServerRecord | undefined = await deps.directory.getServer(event.serverId);
  if (!server) return { kind: 'ignored', why: `no server ${event.serverId} in the directory` };
  const { serverId: _, ...trigger } = event;
  const outcome = await diagnoseServer(server, trigger, { deadline: context.deadline, requestId: context.requestId, publish: 'required' }, deps);
  return { kind: 'diagnosed', outcome };
}
