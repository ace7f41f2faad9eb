/**
 * Console history on a real libvirt guest: virtlogd writes a Nova-style guest's log (pty +
 * `<log append='off'>`), the agent's history shipping follows it through the libvirt driver and
 * its lifecycle events, and ships to S3 (fauxqs). A hard reboot through `virsh` (destroy, start:
 * virtlogd wipes the log and its backups) keeps boot 1 in the history, before boot 2, byte for byte
 * what virtlogd had written.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shipHistory } from '../../lib/agent/ship-history.ts';
import { HistoryStore, readSegments } from '../../lib/history/history-store.ts';
import { createHistoryS3Client, ensureHistoryBucket } from '../../lib/history/s3-client.ts';
import { LibvirtDriver } from '../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { createLogger } from '../../lib/logger.ts';
import { requireLibvirtOrSkip, startLibvirt } from '../harness/libvirt.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { waitFor } from '../helpers/wait.ts';

const PANIC = /Kernel panic - not syncing/g;
const BOOT_MS = 240_000;
const WAIT_FOR_MACHINE_MS = 10 * 60_000;
const runnable = requireLibvirtOrSkip();

describe.runIf(runnable)('console history on a real libvirt guest', () => {
  const aws = useLocalAws();

  it('keeps boot 1 across a hard reboot through virsh (append=\'off\' wipes the log), in S3 and through the host', async () => {
    const lv = await startLibvirt({ lockTimeoutMs: WAIT_FOR_MACHINE_MS });
    const s3 = createHistoryS3Client({ ...aws.env, VMCONSOLE_S3_ENDPOINT: aws.sqsEndpoint });
    await ensureHistoryBucket(s3, 'libvirt-history');
    const store = new HistoryStore(s3, 'libvirt-history');
    const lifetime = new AbortController();
    let history: ReturnType<typeof shipHistory>;
    try {
      const uuid = crypto.randomUUID();
      const log = join(lv.logDir, uuid, 'console.log');
      await mkdir(join(lv.logDir, uuid));
      await lv.define(lv.domainXml({ name: 'instance-00000010', uuid, console: { type: 'pty', log, append: false } }));
      const driver = new LibvirtDriver({ uri: lv.uri, roots: [lv.logDir], instancesDir: join(lv.logDir, 'instances') });
      history = shipHistory({ driver, roots: [lv.logDir], store, host: 'lv-host', logger: createLogger('libvirt-history-test') });
      const tapped = history!.tap(driver);
      // As the agent does: listings feed the followers, lifecycle events ship before a stop.
      driver.watch?.((event) => {
        history!.onDriverEvent(event);
        tapped.listServers().catch(() => undefined);
      }, lifetime.signal);
      const server = { id: uuid, instanceName: 'instance-00000010' };
      const read = async () => {
        const r = await history!.read(server, 0, 0, 1024 * 1024, 0, lifetime.signal);
        return r;
      };

      await lv.virsh('start', uuid);
      await tapped.listServers();
      await waitFor(async () => ((await read().catch(() => undefined))?.data.toString('latin1').match(PANIC)?.length ?? 0) >= 1, BOOT_MS, 'boot 1\'s panic through history');
      const boot1 = await readFile(log);
      await waitFor(async () => (await read()).next >= boot1.length, 30_000, 'all of boot 1 followed');

      await lv.virsh('destroy', uuid);
      await lv.virsh('start', uuid);
      await tapped.listServers();
      await waitFor(async () => ((await read()).data.toString('latin1').match(PANIC)?.length ?? 0) >= 2, BOOT_MS, 'boot 2\'s panic through history');
      const boot2 = await readFile(log);
      // The log on disk holds boot 2 only; history holds boot 1, then boot 2.
      expect(boot2.toString('latin1')).not.toContain(boot1.subarray(0, 200).toString('latin1'));
      await waitFor(async () => (await read()).next >= boot1.length + boot2.length, 30_000, 'all of boot 2 followed');
      const all = await read();
      expect(all.data.subarray(0, boot1.length).equals(boot1)).toBe(true);
      expect(all.data.subarray(boot1.length, boot1.length + boot2.length).equals(boot2)).toBe(true);
      // Boot 1 was shipped when its log was wiped (the stop event, then the reset), before boot 2 grew.
      const inS3 = await readSegments(store, await store.listSegments(uuid, 0, 0, boot1.length), 0, boot1.length);
      expect(inS3.equals(boot1)).toBe(true);
    } finally {
      lifetime.abort();
      await history!?.stop();
      s3.destroy();
      await lv.stop();
    }
  }, WAIT_FOR_MACHINE_MS + 2 * BOOT_MS + 120_000);
});
