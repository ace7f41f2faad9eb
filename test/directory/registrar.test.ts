/**
 * The registrar (lib/directory/registrar.ts) on a real directory (dynalite): a host's inventory
 * becomes server records, a server a live host still runs is never taken from it, a conflict is
 * logged once per streak, and a live migration still moves the server.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { InventoryEntry } from '../../lib/contracts/records.ts';
import { Registrar, TAKEOVER_AFTER_SILENCE_MS } from '../../lib/directory/registrar.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

const aws = useLocalAws();
const T0 = 1_800_000_000_000;

const entry = (id: string, projectId = 'p'): InventoryEntry => ({ id, name: 'vm', projectId, userId: 'u', state: 'active', instanceName: id });
const runs = (host: string, servers: InventoryEntry[], at = T0) => aws.directory.putInventory({ host, hypervisor: 'files', servers, updatedAt: at });
const beats = (host: string, at: number) => aws.directory.putHost({ host, queueUrl: `http://sqs.local:1/000000000000/q-${host}`, hypervisor: 'files', heartbeatAt: at, heartbeatIntervalMs: 1_000, agentVersion: 't' });
const hosts = () => {
  const tag = randomUUID().slice(0, 8);
  return [`reg-a-${tag}`, `reg-b-${tag}`] as const;
};

describe('Registrar', () => {
  it('keeps a server an inventory lists by an upper-case UUID: registering again neither rewrites nor releases it', async () => {
    const [a] = hosts();
    const id = randomUUID();
    const registrar = new Registrar(aws.directory, recordingLogger(), { now: () => T0 });
    await beats(a, T0);
    await runs(a, [entry(id.toUpperCase())]);
    expect(await registrar.register(a)).toEqual({ present: 1, written: 1, removed: 0, refused: 0 });
    expect(await registrar.register(a)).toEqual({ present: 1, written: 0, removed: 0, refused: 0 });
    expect(await aws.directory.getServer(id)).toMatchObject({ id, host: a });
  });

  it('leaves a server with its live host however often another host claims it, and logs the conflict once', async () => {
    const [a, b] = hosts();
    const id = randomUUID();
    const logger = recordingLogger();
    let now = T0;
    const registrar = new Registrar(aws.directory, logger, { now: () => now });
    await beats(a, now);
    await runs(a, [entry(id, 'victim')]);
    expect(await registrar.register(a)).toEqual({ present: 1, written: 1, removed: 0, refused: 0 });
    await beats(b, now);
    await runs(b, [entry(id, 'attacker')]);
    for (let i = 0; i < 3; i++) {
      now += 1_000;
      await beats(a, now);
      expect(await registrar.register(b)).toEqual({ present: 1, written: 0, removed: 0, refused: 1 });
    }
    expect(await aws.directory.getServer(id)).toMatchObject({ host: a, projectId: 'victim' });
    const conflicts = logger.entries.filter((e) => e.message.startsWith('server claimed by two live hosts'));
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ level: 'warn', data: { server: id, host: a, claimant: b } });
  });

  it('keeps a server with a host that missed beats or restarts, and hands it over once that host has been silent for the takeover time', async () => {
    const [a, b] = hosts();
    const id = randomUUID();
    let now = T0;
    const registrar = new Registrar(aws.directory, recordingLogger(), { now: () => now });
    await beats(a, now);
    await runs(a, [entry(id)]);
    await registrar.register(a);
    await runs(b, [entry(id)]);
    now += 60_000; // a's 1 s heartbeat is stale: the edge calls it down, but it may be back any moment
    expect(await registrar.register(b)).toMatchObject({ written: 0, refused: 1 });
    expect(await aws.directory.getServer(id)).toMatchObject({ host: a });
    now = T0 + TAKEOVER_AFTER_SILENCE_MS + 1_000;
    expect(await registrar.register(b)).toMatchObject({ written: 1, refused: 0 });
    expect(await aws.directory.getServer(id)).toMatchObject({ host: b });
  });

  it('a live migration: the destination waits while the source still lists the guest, and gets it the moment the source lets it go', async () => {
    const [a, b] = hosts();
    const id = randomUUID();
    const logger = recordingLogger();
    const registrar = new Registrar(aws.directory, logger, { now: () => T0 });
    await beats(a, T0);
    await beats(b, T0);
    await runs(a, [entry(id)]);
    await registrar.register(a);
    await runs(b, [entry(id)]);
    expect(await registrar.register(b)).toMatchObject({ refused: 1 });
    expect(await aws.directory.getServer(id)).toMatchObject({ host: a });
    // The source's migrate-out: its next sync no longer lists the guest.
    await runs(a, []);
    expect(await registrar.register(a)).toMatchObject({ removed: 1 });
    expect(await aws.directory.getServer(id)).toMatchObject({ host: b });
    expect(logger.entries.map((e) => e.message)).toContain('server handed to the host that was waiting for it');
  });

  it('a host with no inventory item registers nothing and releases nothing', async () => {
    const [a] = hosts();
    expect(await new Registrar(aws.directory, recordingLogger()).register(a)).toEqual({ present: 0, written: 0, removed: 0, refused: 0 });
  });
});
