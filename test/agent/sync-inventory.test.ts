/**
 * syncInventory against a real directory (dynalite) and a real driver (the files driver over a
 * temporary instances directory): what a host's agent publishes, and what it leaves alone.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { syncInventory } from '../../lib/agent/sync-inventory.ts';
import { Registrar } from '../../lib/directory/registrar.ts';
import { FilesDriver } from '../../lib/hypervisors/files/files-driver.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

const aws = useLocalAws();

let dir: string;
let host: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmconsole-inventory-'));
  host = `host-${randomUUID().slice(0, 8)}`;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const driverOver = (instancesDir: string) => new FilesDriver({ instancesDir, roots: [instancesDir], logger: recordingLogger() });
const instance = (instancesDir: string, id: string, sidecar: object) => {
  mkdirSync(join(instancesDir, id), { recursive: true });
  writeFileSync(join(instancesDir, id, 'instance.json'), JSON.stringify(sidecar));
};
// An agent that registers its servers itself (VMCONSOLE_REGISTRAR=agent), as local stacks run.
const sync = async (instancesDir = dir, on = host, at = 1_700_000_000_000) => {
  const { inventory: _written, ...counts } = await syncInventory({ directory: aws.directory, driver: driverOver(instancesDir), host: on, registrar: new Registrar(aws.directory, recordingLogger(), { now: () => at }), now: () => at });
  return counts;
};
const onHost = async (on = host) => (await aws.directory.serversOnHost(on)).sort((a, b) => a.name.localeCompare(b.name));

describe('syncInventory', () => {
  it('publishes every server of the host with the host, the hypervisor kind and the time of the sync', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    instance(dir, a, { name: 'web-1', projectId: 'p', userId: 'u' });
    instance(dir, b, { name: 'web-2', projectId: 'p', userId: 'u', state: 'stopped' });
    expect(await sync()).toEqual({ present: 2, written: 2, removed: 0, refused: 0 });
    expect(await onHost()).toEqual([
      { id: a, name: 'web-1', projectId: 'p', userId: 'u', state: 'active', instanceName: a, host, hypervisor: 'files', updatedAt: 1_700_000_000_000 },
      { id: b, name: 'web-2', projectId: 'p', userId: 'u', state: 'stopped', instanceName: b, host, hypervisor: 'files', updatedAt: 1_700_000_000_000 },
    ]);
  });

  it('a steady host writes nothing; a changed server is the only one rewritten', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    instance(dir, a, { name: 'web-1', projectId: 'p', userId: 'u' });
    instance(dir, b, { name: 'web-2', projectId: 'p', userId: 'u' });
    await sync();
    expect(await sync(dir, host, 1_700_000_001_000)).toEqual({ present: 2, written: 0, removed: 0, refused: 0 });

    instance(dir, b, { name: 'web-2', projectId: 'p', userId: 'u', state: 'paused' });
    expect(await sync(dir, host, 1_700_000_002_000)).toEqual({ present: 2, written: 1, removed: 0, refused: 0 });
    const [first, second] = await onHost();
    expect(first).toMatchObject({ id: a, updatedAt: 1_700_000_000_000 });
    expect(second).toMatchObject({ id: b, state: 'paused', updatedAt: 1_700_000_002_000 });
  });

  it('removes the records of servers that left the host', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    instance(dir, a, { name: 'web-1', projectId: 'p', userId: 'u' });
    instance(dir, b, { name: 'web-2', projectId: 'p', userId: 'u' });
    await sync();
    rmSync(join(dir, b), { recursive: true });
    expect(await sync()).toEqual({ present: 1, written: 0, removed: 1, refused: 0 });
    expect((await onHost()).map((s) => s.id)).toEqual([a]);
    expect(await aws.directory.getServer(b)).toBeUndefined();
  });

  it('a server migrated away keeps the record its new host wrote when the old host syncs after it', async () => {
    const moved = randomUUID();
    const other = `${host}-b`;
    const otherDir = mkdtempSync(join(tmpdir(), 'vmconsole-inventory-b-'));
    try {
      instance(dir, moved, { name: 'db', projectId: 'p', userId: 'u' });
      await sync();
      // Live migration: the guest now runs on the other host, which publishes it first.
      instance(otherDir, moved, { name: 'db', projectId: 'p', userId: 'u' });
      await sync(otherDir, other);
      rmSync(join(dir, moved), { recursive: true });
      expect(await sync()).toEqual({ present: 0, written: 0, removed: 0, refused: 0 });
      expect(await aws.directory.getServer(moved)).toMatchObject({ host: other });
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('an empty host publishes nothing and removes nothing of other hosts', async () => {
    const elsewhere = randomUUID();
    const otherDir = mkdtempSync(join(tmpdir(), 'vmconsole-inventory-b-'));
    try {
      instance(otherDir, elsewhere, { name: 'x', projectId: 'p', userId: 'u' });
      await sync(otherDir, `${host}-b`);
      expect(await sync()).toEqual({ present: 0, written: 0, removed: 0, refused: 0 });
      expect(await aws.directory.getServer(elsewhere)).toMatchObject({ host: `${host}-b` });
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});
