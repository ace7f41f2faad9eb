import { VmconsoleError } from '../errors.ts';

export interface Microversion {
  major: number;
  minor: number;
}

export const MIN_MICROVERSION: Microversion = { major: 2, minor: 1 };

/**
 * The highest microversion we advertise, i.e. whose behaviour we implement for every endpoint
 * we serve (versions, server show/list, os-services, server actions, remote consoles):
 * - 2.1: console output, server show/list as documented; the legacy console actions
 *   (os-getVNCConsole, os-getSPICEConsole, os-getSerialConsole; os-getRDPConsole answers 400).
 * - 2.2: only changes os-keypairs, which we do not serve.
 * - 2.3: server show/detail add the admin-only extended attributes reservation_id, launch_index,
 *   kernel_id, ramdisk_id, hostname, root_device_name and user_data (server-view.ts: null where
 *   the directory does not know them, never invented).
 * - 2.4: only os-fixed-ips. 2.5: `ip6` becomes a filter for every caller (refused, like `ip`).
 * - 2.6: POST /servers/{id}/remote-consoles; the legacy console actions answer 404.
 * - 2.7: only flavor access. 2.8: remote consoles accept mks/webmks (answered "Unavailable
 *   console type webmks.", as Nova with [mks] disabled).
 * - 2.9 would add `locked` to the server view, which the directory cannot know: stop here.
 */
export const MAX_MICROVERSION: Microversion = { major: 2, minor: 8 };

export function formatMicroversion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

export function compareMicroversions(a: Microversion, b: Microversion): number {
  return a.major - b.major || a.minor - b.minor;
}

/** Nova's APIVersionRequest grammar: no leading zeros, no sign, exactly MAJOR.MINOR. */
const VERSION_RE = /^([1-9]\d*)\.([1-9]\d*|0)$/;

/**
 * The version a client asked for, from `OpenStack-API-Version: compute X.Y` (which may list
 * several services, comma-separated, and wins when it names compute) or the legacy
 * `X-OpenStack-Nova-API-Version: X.Y`. No header means 2.1. Headers must be lower-cased.
 */
export function requestedMicroversion(headers: Readonly<Record<string, string | undefined>>): string | undefined {
  const modern = headers['openstack-api-version'];
  if (modern !== undefined) {
    for (const entry of modern.split(',')) {
      const [service = ''] = entry.trim().split(/\s+/);
      if (service.toLowerCase() === 'compute') return entry.trim().slice(service.length).trim();
    }
  }
  return headers['x-openstack-nova-api-version']?.trim();
}

export function parseMicroversion(headers: Readonly<Record<string, string | undefined>>): Microversion {
  const requested = requestedMicroversion(headers);
  if (requested === undefined) return MIN_MICROVERSION;
  if (requested.toLowerCase() === 'latest') return MAX_MICROVERSION;
  const match = VERSION_RE.exec(requested);
  if (!match) {
    throw new VmconsoleError(
      'BadRequest',
      `API Version String ${requested.slice(0, 40)} is of invalid format. Must be of format MajorNum.MinorNum.`,
    );
  }
  const version = { major: Number(match[1]), minor: Number(match[2]) };
  if (compareMicroversions(version, MIN_MICROVERSION) < 0 || compareMicroversions(version, MAX_MICROVERSION) > 0) {
    throw new VmconsoleError(
      'NotAcceptable',
      `Version ${formatMicroversion(version)} is not supported by the API. Minimum is ${formatMicroversion(MIN_MICROVERSION)} and maximum is ${formatMicroversion(MAX_MICROVERSION)}.`,
    );
  }
  return version;
}

/** Echoed on every response, errors included: tempest checks the echo, caches need the Vary. */
export function microversionHeaders(v: Microversion): Record<string, string> {
  const text = formatMicroversion(v);
  return {
    'OpenStack-API-Version': `compute ${text}`,
    'X-OpenStack-Nova-API-Version': text,
    Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
  };
}
