import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isContinuationLine, lifecycleType, parseEventLine } from '../../../lib/hypervisors/libvirt/parse-event-line.ts';

/** Lines recorded from real libvirtd (see the fixture's header), grouped by the command that caused them. */
function recorded(file: string): Map<string, string[]> {
  const steps = new Map<string, string[]>();
  let step = '';
  for (const line of readFileSync(new URL(`../../fixtures/virsh-events/${file}`, import.meta.url), 'utf8').split('\n')) {
    if (line.startsWith('## ')) steps.set((step = line.slice(3)), []);
    else if (line !== '' && !line.startsWith('#')) steps.get(step)!.push(line);
  }
  return steps;
}

const typesOf = (lines: readonly string[]) => lines.map((line) => {
  const event = parseEventLine(line);
  return event?.kind === 'lifecycle' ? event.type : event?.kind;
});

describe('virsh event lines recorded from libvirt 9.0', () => {
  const steps = recorded('libvirt-9.0-lifecycle.txt');

  it('define, start, suspend, resume, destroy, undefine', () => {
    expect(typesOf(steps.get('define')!)).toEqual(['defined']);
    // A start reports the resume of the CPUs before the start itself.
    expect(typesOf(steps.get('start')!)).toEqual(['resumed', 'started']);
    expect(typesOf(steps.get('suspend')!)).toEqual(['paused']);
    expect(typesOf(steps.get('resume')!)).toEqual(['resumed']);
    // "Shutdown Finished ..." precedes the stop and is no event of its own.
    expect(typesOf(steps.get('destroy')!)).toEqual([undefined, 'stopped']);
    expect(typesOf(steps.get('undefine')!)).toEqual(['undefined']);
  });

  it('a QEMU process killed under its guest is a crash', () => {
    expect(typesOf(steps.get('kill -9 the QEMU process')!)).toEqual(['crashed']);
  });

  it('keeps the name as written (spaces included) and virsh\'s words', () => {
    expect(parseEventLine(steps.get('destroy')![1]!)).toEqual({ kind: 'lifecycle', domain: 'rec 1', event: 'Stopped', detail: 'Destroyed', type: 'stopped' });
    expect(parseEventLine(steps.get('destroy')![0]!)).toEqual({
      kind: 'lifecycle', domain: 'rec 1', event: 'Shutdown', detail: 'Finished after host request', type: undefined,
    });
  });

  it('every recorded line parses', () => {
    for (const lines of steps.values()) for (const line of lines) expect(parseEventLine(line), line).toBeDefined();
  });
});

describe('virsh event lines recorded from libvirt 9.0: rename, metadata, save and restore, reset', () => {
  const steps = recorded('libvirt-9.0-rename-save-reset.txt');

  it('a rename is the old name undefined, then the new name defined', () => {
    expect(steps.get('domrename rec-p rec-q')!.map(parseEventLine)).toMatchObject([
      { domain: 'rec-p', type: 'undefined', detail: 'Renamed' },
      { domain: 'rec-q', type: 'defined', detail: 'Renamed' },
    ]);
  });

  it('save stops the domain, restore starts it; the job events between are other events, their payload lines no events at all', () => {
    const save = steps.get('save')!;
    expect(save.filter((l) => !isContinuationLine(l)).map((l) => typesOf([l])[0])).toEqual(['paused', 'other', 'other', 'other', 'other', 'stopped']);
    expect(save.filter(isContinuationLine)).toHaveLength(18);
    expect(parseEventLine(save[4]!)).toEqual({ kind: 'other', name: 'job-completed', domain: 'rec-q' });
    expect(typesOf(steps.get('restore')!)).toEqual(['started', 'resumed']);
  });

  it('metadata and control errors are other events of their domain', () => {
    expect(parseEventLine(steps.get('desc --config (metadata of an inactive domain)')![0]!)).toEqual({ kind: 'other', name: 'metadata-change', domain: 'rec-p' });
    expect(typesOf(steps.get('reset (on_reboot destroy: the guest is shut down; recorded in a separate run)')!)).toEqual([undefined, 'other', 'stopped']);
  });

  it('every recorded line is an event or the payload of the one above it', () => {
    for (const lines of steps.values()) for (const line of lines) expect(parseEventLine(line) !== undefined || isContinuationLine(line), line).toBe(true);
  });
});

describe('virsh event lines by libvirt\'s detail strings', () => {
  it.each([
    ['Defined', 'Updated', 'defined'],
    ['Undefined', 'Renamed', 'undefined'],
    ['Started', 'Booted', 'started'],
    ['Started', 'Restored', 'started'],
    ['Started', 'Migrated', 'migrated-in'],
    ['Suspended', 'Paused', 'paused'],
    ['Suspended', 'Migrated', 'paused'],
    ['PMSuspended', 'Memory', 'paused'],
    ['Resumed', 'Migrated', 'resumed'],
    ['Stopped', 'Shutdown', 'stopped'],
    ['Stopped', 'Destroyed', 'stopped'],
    ['Stopped', 'Saved', 'stopped'],
    ['Stopped', 'Migrated', 'migrated-out'],
    ['Stopped', 'Crashed', 'crashed'],
    ['Stopped', 'Failed', 'crashed'],
    ['Crashed', 'Panicked', 'crashed'],
    ['Crashed', 'Crashloaded', 'crashed'],
    ['Shutdown', 'Finished after guest request', undefined],
  ])('%s %s -> %s', (event, detail, type) => {
    expect(lifecycleType(event, detail)).toBe(type);
    expect(parseEventLine(`event 'lifecycle' for domain 'instance-0000002a': ${event} ${detail}`)).toMatchObject({ domain: 'instance-0000002a', type });
  });

  it('a name holding quotes and ": " still splits at the lifecycle words', () => {
    expect(parseEventLine("event 'lifecycle' for domain 'it's: Started Booted': Stopped Destroyed")).toMatchObject({
      domain: "it's: Started Booted", event: 'Stopped', detail: 'Destroyed',
    });
  });

  it('other domain events are named, with or without a payload', () => {
    expect(parseEventLine("event 'reboot' for domain 'g'")).toEqual({ kind: 'other', name: 'reboot', domain: 'g' });
    expect(parseEventLine("event 'device-removed' for domain 'g': serial0")).toEqual({ kind: 'other', name: 'device-removed', domain: 'g' });
  });

  it('anything else is not an event', () => {
    for (const line of ['', 'events received: 3', "event 'lifecycle' for domain 'g': Exploded Badly", 'error: Disconnected from qemu:///system']) {
      expect(parseEventLine(line), line).toBeUndefined();
    }
  });
});
