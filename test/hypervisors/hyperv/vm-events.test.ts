import { describe, expect, it } from 'vitest';
import { mapVms, type HyperVVm } from '../../../lib/hypervisors/hyperv/list-vms.ts';
import { changes } from '../../../lib/hypervisors/hyperv/vm-inventory.ts';
import { recordedEntry } from '../../helpers/hyperv-test-host.ts';

const ID = '0f0e0d0c-0b0a-4909-8807-060504030201';
const UUID = '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a0a';

/** One listing holding the VM in Hyper-V state `state` (or none). */
function listing(state?: string): Map<string, HyperVVm> {
  if (state === undefined) return new Map();
  const entry = { ...recordedEntry(ID, { name: 'instance-0000000a', instanceUuid: UUID }, true), State: state };
  return new Map(mapVms([entry]).vms.map((vm) => [vm.serverId, vm]));
}

const between = (before?: string, after?: string) => changes(listing(before), listing(after), 1).map((e) => ('server' in e ? [e.type, e.server.id, e.reason] : [e.type, e.reason]));

describe('driver events from two Get-VM listings', () => {
  it('a VM that appears running is defined, then started; one that goes is undefined', () => {
    expect(between(undefined, 'Running')).toEqual([['defined', UUID, 'VM appeared (Running)'], ['started', UUID, 'Running']]);
    expect(between(undefined, 'Off')).toEqual([['defined', UUID, 'VM appeared (Off)']]);
    expect(between('Off', undefined)).toEqual([['undefined', UUID, 'VM gone']]);
  });

  it('power changes in Nova\'s words, with Hyper-V\'s states as the reason', () => {
    expect(between('Off', 'Running')).toEqual([['started', UUID, 'Off -> Running']]);
    expect(between('Running', 'Off')).toEqual([['stopped', UUID, 'Running -> Off']]);
    expect(between('Running', 'Paused')).toEqual([['paused', UUID, 'Running -> Paused']]);
    expect(between('Running', 'Saved')).toEqual([['paused', UUID, 'Running -> Saved']]);
    expect(between('Paused', 'Running')).toEqual([['resumed', UUID, 'Paused -> Running']]);
    expect(between('Saved', 'Running')).toEqual([['resumed', UUID, 'Saved -> Running']]);
    expect(between('Running', 'Other')).toEqual([['resync', `VM ${ID}: Running -> Other`]]);
  });

  it('no event while the state means the same (Starting and Running are both active)', () => {
    expect(between('Running', 'Running')).toEqual([]);
    expect(between('Starting', 'Running')).toEqual([]);
  });

  it('a VM entering a critical state crashed, with the state as the reason, before its power change', () => {
    expect(between('Running', 'RunningCritical')).toEqual([['crashed', UUID, 'RunningCritical']]);
    expect(between('Off', 'OffCritical')).toEqual([['crashed', UUID, 'OffCritical']]);
    expect(between('Saved', 'SavedCritical')).toEqual([['crashed', UUID, 'SavedCritical']]);
    expect(between('Running', 'PausedCritical')).toEqual([['crashed', UUID, 'PausedCritical'], ['paused', UUID, 'Running -> PausedCritical']]);
    expect(between('Running', 'OffCritical')).toEqual([['crashed', UUID, 'OffCritical'], ['stopped', UUID, 'Running -> OffCritical']]);
  });

  it('no crash for a VM already critical: first seen so, staying so, moving between critical states, or recovering', () => {
    expect(between(undefined, 'RunningCritical')).toEqual([['defined', UUID, 'VM appeared (RunningCritical)'], ['started', UUID, 'RunningCritical']]);
    expect(between(undefined, 'OffCritical')).toEqual([['defined', UUID, 'VM appeared (OffCritical)']]);
    expect(between('RunningCritical', 'RunningCritical')).toEqual([]);
    expect(between('RunningCritical', 'OffCritical')).toEqual([['stopped', UUID, 'RunningCritical -> OffCritical']]);
    expect(between('RunningCritical', 'Running')).toEqual([]);
    expect(between('OffCritical', 'Running')).toEqual([['started', UUID, 'OffCritical -> Running']]);
    expect(between('PausedCritical', 'Running')).toEqual([['resumed', UUID, 'PausedCritical -> Running']]);
  });

  it('a critical state printed as a number is not named, so gives no crash (releases number them differently)', () => {
    expect(between('Running', '32783')).toEqual([['resync', `VM ${ID}: Running -> VMState 32783`]]);
  });
});

describe('log directories', () => {
  it('two VMs never share one, even when one is named with the other\'s VM id, or an entry is printed twice', () => {
    const other = 'abcdef01-2345-4678-89ab-cdef01234567';
    const named = { ...recordedEntry('00000000-1111-4222-8333-444444444444', { name: other, instanceUuid: null }, true) };
    const unsafe = { ...recordedEntry(other, { name: 'lab box', instanceUuid: null }, true) };
    for (const list of [[named, unsafe], [unsafe, named]]) {
      const { vms } = mapVms(list);
      expect(vms).toHaveLength(2);
      expect(new Set(vms.map((vm) => vm.logDir.toLowerCase())).size).toBe(2);
    }
    const twice = mapVms([named, { ...named, Notes: UUID }]);
    expect(twice.vms).toHaveLength(1);
    expect(twice.problems).toEqual([expect.stringContaining('printed more than once')]);
  });
});
