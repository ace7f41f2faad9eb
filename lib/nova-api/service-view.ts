import { createHash } from 'node:crypto';
import type { ComputeService } from '../services/list-services.ts';
import { compareMicroversions, type Microversion } from './microversion.ts';

/** The namespace of os-services ids: a fixed random UUID, so every edge derives the same ids. */
const SERVICE_ID_NAMESPACE = '6f1c3a52-9d0e-4b7a-8c1f-2e5d4a9b7c30';

/** RFC 4122 version 5 (SHA-1) UUID of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The service's id from 2.53: stable for a host name, whichever edge answers. */
export function serviceUuid(host: string): string {
  return uuidV5(`nova-compute@${host}`, SERVICE_ID_NAMESPACE);
}

/**
 * Below 2.53 Nova's ids are database integers. vmconsole has no such counter, so the id is the first
 * 48 bits of the UUID: stable, an exact JSON number, and unique in practice (two hosts in a
 * thousand-host fleet collide with odds of about 2e-9).
 */
export function serviceIntegerId(host: string): number {
  return Number.parseInt(serviceUuid(host).replace(/-/g, '').slice(0, 12), 16);
}

/** Nova prints service times as naive UTC with microseconds: `2012-10-29T13:42:02.000000`. */
function novaServiceTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000');
}

/** One `GET /os-services` entry, with the fields of the microversion asked for. */
export function serviceView(service: ComputeService, microversion: Microversion) {
  const from = (major: number, minor: number) => compareMicroversions(microversion, { major, minor }) >= 0;
  return {
    id: from(2, 53) ? serviceUuid(service.host) : serviceIntegerId(service.host),
    binary: service.binary,
    host: service.host,
    zone: 'nova',
    status: service.disabledReason === undefined ? 'enabled' : 'disabled',
    state: service.down ? 'down' : 'up',
    updated_at: novaServiceTime(service.updatedAt),
    disabled_reason: service.disabledReason ?? null,
    // Nobody forces a vmconsole host down: the agent says it stopped, or its heartbeat stops.
    ...(from(2, 11) ? { forced_down: false } : {}),
  };
}
