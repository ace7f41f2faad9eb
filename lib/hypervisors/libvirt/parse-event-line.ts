import type { ServerEventType } from '../driver.ts';

/** One line of `virsh event --all --loop`, by the domain's name: virsh prints no UUID. */
export type VirshEvent =
  /** `event 'lifecycle' for domain 'NAME': Started Booted`: `event` and `detail` are virsh's words. */
  | { kind: 'lifecycle'; domain: string; event: string; detail: string; type: ServerEventType | undefined }
  /** Any other domain event (reboot, device-removed, metadata-change, ...): the domain's XML may have changed. */
  | { kind: 'other'; domain: string; name: string };

// virsh's lifecycle words (virshDomainEvent in tools/virsh-domain-event.c), printed untranslated
// under LANG=C. Anchored at the end, so a domain name holding "': " cannot shift the split.
const LIFECYCLE = /^event 'lifecycle' for domain '(.*)': (Defined|Undefined|Started|Suspended|Resumed|Stopped|Shutdown|PMSuspended|Crashed) (.+)$/;
// Other events end the name with "'" alone, "': payload", or "':" before indented payload lines.
const OTHER = /^event '([\w-]+)' for domain '(.*?)'(?::|$)/;

/**
 * Payload lines of a multi-line event (job-completed prints one tab-indented line per field):
 * part of the event above them, not events of their own.
 */
export function isContinuationLine(line: string): boolean {
  return /^[ \t]+\S/.test(line);
}

/**
 * A line virsh prints for a domain event, or undefined for anything else (blank lines, the
 * "events received" count virsh prints when the loop ends, continuation lines, a format this
 * parser does not know).
 */
export function parseEventLine(line: string): VirshEvent | undefined {
  const lifecycle = LIFECYCLE.exec(line.trimEnd());
  if (lifecycle) {
    const [, domain, event, detail] = lifecycle as unknown as [string, string, string, string];
    return { kind: 'lifecycle', domain, event, detail, type: lifecycleType(event, detail) };
  }
  const other = OTHER.exec(line);
  if (other && other[1] !== 'lifecycle') return { kind: 'other', name: other[1]!, domain: other[2]! };
  return undefined;
}

/**
 * libvirt's lifecycle event and detail as a driver event. `Shutdown` (the guest finished shutting
 * down) has none: the domain is still there, and `Stopped Shutdown` follows. A start reports
 * `Resumed Unpaused` before `Started Booted` (recorded from libvirt 9.0).
 */
export function lifecycleType(event: string, detail: string): ServerEventType | undefined {
  switch (event) {
    case 'Defined':
      return 'defined';
    case 'Undefined':
      return 'undefined';
    case 'Started':
      return detail === 'Migrated' ? 'migrated-in' : 'started';
    case 'Suspended':
    case 'PMSuspended':
      return 'paused';
    case 'Resumed':
      return 'resumed';
    case 'Stopped':
      if (detail === 'Migrated') return 'migrated-out';
      // Crashed: the guest panicked and on_crash destroyed it; Failed: QEMU died (killed, OOM, bug).
      return detail === 'Crashed' || detail === 'Failed' ? 'crashed' : 'stopped';
    case 'Crashed':
      return 'crashed';
    default:
      return undefined;
  }
}
