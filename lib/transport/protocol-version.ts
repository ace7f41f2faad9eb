import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../contracts/messages.ts';
import type { HostRecord } from '../contracts/records.ts';
import { VmconsoleError } from '../errors.ts';

export interface ProtocolRange {
  min: number;
  max: number;
}

/** What this build speaks; a requester pinned lower (VMCONSOLE_PROTOCOL_MAX) passes its own max. */
export const THIS_BUILD: ProtocolRange = { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };

/** What a host's agent speaks, from its record: an agent that advertises nothing speaks 1 only. */
export function hostProtocols(host: Pick<HostRecord, 'protocolMin' | 'protocolMax'>): ProtocolRange {
  const max = host.protocolMax ?? 1;
  return { min: Math.min(host.protocolMin ?? 1, max), max };
}

/**
 * The version to send this host: the highest both sides speak. None in common is refused at once,
 * naming both ranges, instead of sending a request the agent would leave for its dead-letter
 * queue while the caller waits for a 504.
 */
export function versionFor(host: Pick<HostRecord, 'host' | 'agentVersion' | 'protocolMin' | 'protocolMax'>, speaks: ProtocolRange = THIS_BUILD): number {
  const theirs = hostProtocols(host);
  const v = Math.min(theirs.max, speaks.max);
  if (v >= Math.max(theirs.min, speaks.min)) return v;
  const detail = `host ${host.host} (agent ${host.agentVersion}) speaks host protocol ${theirs.min}-${theirs.max}; this service speaks ${speaks.min}-${speaks.max}`;
  const message = theirs.max < speaks.min
    ? `The compute host of this server runs an agent too old for this service (host protocol ${theirs.max}; ${speaks.min} or later is needed). Its agent must be upgraded.`
    : `The compute host of this server runs an agent newer than this service speaks (host protocol ${theirs.min} or later; this service speaks up to ${speaks.max}). The service must be upgraded.`;
  throw new VmconsoleError('HostIncompatible', message, { detail });
}
