/**
 * The libvirt harness itself, on real daemons: a Nova-style guest boots to its kernel panic with
 * virtlogd writing the log, stop leaves no daemon or QEMU process behind, and a second harness
 * waits for the first instead of fighting over the machine's single libvirtd.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processIsRunning, requireLibvirtOrSkip, startLibvirt } from '../harness/libvirt.ts';

const PANIC = /Kernel panic - not syncing/;
// Another libvirt suite may hold the machine for minutes: the harness waits for it (lockTimeoutMs).
const WAIT_FOR_MACHINE_MS = 10 * 60_000;
const runnable = requireLibvirtOrSkip();

const running = async (pids: number[]) => {
  const states = await Promise.all(pids.map(processIsRunning));
  return pids.filter((_, i) => states[i]);
};

describe.runIf(runnable)('libvirt harness (real libvirtd, virtlogd, QEMU)', () => {
  it('boots a Nova-style guest to its kernel panic, then stops every process it started', async () => {
    const t0 = performance.now();
    const lv = await startLibvirt();
    const up = performance.now();
    let stopped = false;
    try {
      // Nova's layout: <instances>/<uuid>/console.log, written by virtlogd, append='off'.
      const uuid = crypto.randomUUID();
      const log = join(lv.logDir, uuid, 'console.log');
      await mkdir(join(lv.logDir, uuid));
      const created = await lv.create(lv.domainXml({
        name: 'instance-00000001',
        uuid,
        console: { type: 'pty', log, append: false },
        nova: { name: 'web-1', projectId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', userId: '0f9e8d7c6b5a49382716f5e4d3c2b1a0' },
      }));
      expect(created).toBe(uuid);
      const qemu = await lv.qemuPid(uuid);
      expect(qemu).toBeGreaterThan(0);

      const text = await lv.waitForFile(log, PANIC, 120_000);
      const panicked = performance.now();
      expect(text).toMatch(/Linux version \d+\.\d+\.\d+/);
      expect(text.indexOf('Linux version')).toBeLessThan(text.search(PANIC));
      expect(text).toContain('\r\n');

      const xml = await lv.virsh('dumpxml', uuid);
      expect(xml).toContain(`<log file='${log}' append='off'/>`);
      expect(xml).toContain('<nova:name>web-1</nova:name>');

      const pids = [lv.pids.libvirtd, lv.pids.virtlogd, qemu!];
      expect(await running(pids)).toEqual(pids);
      await lv.stop();
      stopped = true;
      expect(await running(pids)).toEqual([]);
      console.log(`libvirt harness: daemons answering after ${(up - t0).toFixed(0)} ms (including any wait for another harness), `
        + `kernel panic ${((panicked - up) / 1000).toFixed(1)} s after create, stop ${(performance.now() - panicked).toFixed(0)} ms`);
    } finally {
      if (!stopped) await lv.stop();
    }
  }, WAIT_FOR_MACHINE_MS + 180_000);

  it('a second harness waits until the first has stopped, then starts its own daemons', async () => {
    const first = await startLibvirt({ lockTimeoutMs: WAIT_FOR_MACHINE_MS });
    const firstPids = Object.values(first.pids);
    let secondStarted = false;
    const second = startLibvirt({ lockTimeoutMs: 60_000 }).then((lv) => {
      secondStarted = true;
      return lv;
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(secondStarted).toBe(false);
    expect(await first.virsh('version')).toMatch(/libvirt/i);

    await first.stop();
    const lv = await second;
    try {
      expect(await running(firstPids)).toEqual([]);
      expect(Object.values(lv.pids).some((pid) => firstPids.includes(pid))).toBe(false);
      expect(await lv.virsh('list', '--all', '--name')).not.toMatch(/instance-00000001/);
    } finally {
      await lv.stop();
    }
  }, WAIT_FOR_MACHINE_MS + 120_000);
});
