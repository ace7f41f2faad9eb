/**
 * `virsh screenshot` through the libvirt driver on real libvirtd + QEMU: a guest with a VNC display
 * has a screen (the driver returns virsh's bytes, the agent's shared code makes them a PNG), a guest
 * without graphics has none, without an error.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { screenshotToPng } from '../../lib/console/screenshot-png.ts';
import { LibvirtDriver } from '../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { requireLibvirtOrSkip, startLibvirt } from '../harness/libvirt.ts';

const PANIC = /Kernel panic - not syncing/;
const runnable = requireLibvirtOrSkip();

describe.runIf(runnable)('screenshots from real libvirt guests', () => {
  it('a guest with VNC: the screen as the hypervisor encodes it, converted to PNG; a guest without graphics: none', async () => {
    const lv = await startLibvirt();
    try {
      const boot = async (name: string, graphics: boolean) => {
        const uuid = crypto.randomUUID();
        const log = join(lv.logDir, uuid, 'console.log');
        await mkdir(join(lv.logDir, uuid));
        await lv.create(lv.domainXml({ name, uuid, console: { type: 'pty', log, append: false }, ...(graphics && { graphics: 'vnc' as const }) }));
        return { uuid, log };
      };
      const withScreen = await boot('instance-000000a1', true);
      const headless = await boot('instance-000000a2', false);
      await lv.waitForFile(withScreen.log, PANIC, 180_000);

      const driver = new LibvirtDriver({ uri: lv.uri, roots: [lv.logDir], instancesDir: lv.logDir });
      const shot = await driver.screenshot({ id: withScreen.uuid, instanceName: 'instance-000000a1' });
      expect(shot).toBeDefined();
      expect(shot!.contentType).toMatch(/^image\//);
      const png = screenshotToPng(shot!.bytes);
      // A VGA text screen: 720x400 (or the resolution the guest left it in); never empty.
      expect(png.readUInt32BE(16)).toBeGreaterThan(100);
      expect(png.readUInt32BE(20)).toBeGreaterThan(100);
      console.log(`libvirt screenshot: ${shot!.contentType}, ${shot!.bytes.length} bytes -> PNG ${png.length} bytes, ${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`);

      expect(await driver.screenshot({ id: headless.uuid, instanceName: 'instance-000000a2' })).toBeUndefined();
    } finally {
      await lv.stop();
    }
  }, 300_000);
});
