import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildBusyboxInitramfs } from './busybox-shell-initramfs.ts';
import { renderDomainXml } from './guest-domain-xml.ts';
import { GUEST_KERNEL_PATH, startLibvirtDaemons, type LibvirtDaemons } from './libvirt-daemons.ts';
import { freePort } from './ports.ts';

/**
 * `npm start -- --libvirt`: real QEMU guests (TCG) booting a busybox shell on ttyS0, with what Nova
 * gives a guest with consoles: a VNC display on 127.0.0.1 (autoport) and the serial console as a
 * tcp chardev bound to 127.0.0.1, logged by virtlogd. Nova's metadata puts them in project demo.
 */
export const DEMO_GUESTS = [
  { id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7b01', name: 'shell-1', domain: 'vmconsole-demo-shell-1', projectId: 'demo', userId: 'demo' },
  { id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7b02', name: 'shell-2', domain: 'vmconsole-demo-shell-2', projectId: 'demo', userId: 'demo' },
] as const;

export type DemoGuest = (typeof DEMO_GUESTS)[number] & { serialPort: number; consoleLog: string };

export interface DemoGuests {
  guests: DemoGuest[];
  /** The libvirt driver over these guests, for an agent: its URI, the guests' logs as the only root. */
  agentEnv(host: string): Record<string, string>;
  /** Whether libvirtd/virtlogd were started here (false: a running libvirt was reused). */
  startedDaemons: boolean;
  /** Destroys and undefines the guests, stops the daemons started here. */
  stop(): Promise<void>;
}

/** Starts (or reuses) libvirt and defines and starts the demo guests, their logs under `workDir/guests`. */
export async function startDemoGuests(workDir: string, options: { onWait?: () => void; onLocked?: () => void } = {}): Promise<DemoGuests> {
  const daemons = await startLibvirtDaemons({ reuseRunning: true, ...options });
  try {
    const logDir = join(workDir, 'guests');
    await mkdir(logDir, { recursive: true });
    const initrd = await buildBusyboxInitramfs(daemons.dir);
    const guests: DemoGuest[] = [];
    for (const guest of DEMO_GUESTS) {
      await removeDomain(daemons, guest.domain);
      const serialPort = await freePort();
      const consoleLog = join(logDir, `${guest.name}-console.log`);
      const xml = renderDomainXml({
        name: guest.domain,
        uuid: guest.id,
        nova: { name: guest.name, projectId: guest.projectId, userId: guest.userId },
        console: { type: 'tcp', port: serialPort, log: consoleLog, append: true },
        graphics: 'vnc',
        initrd,
      }, GUEST_KERNEL_PATH);
      const file = join(daemons.dir, `${guest.domain}.xml`);
      await writeFile(file, xml);
      await daemons.virsh('define', file);
      await daemons.track(guest.id);
      await daemons.virsh('start', guest.domain);
      await daemons.track(guest.id);
      guests.push({ ...guest, serialPort, consoleLog });
    }
    return {
      guests,
      startedDaemons: daemons.pids !== undefined,
      agentEnv: (host) => ({ VMCONSOLE_HOST: host, VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: daemons.uri, VMCONSOLE_LOG_ROOTS: logDir, VMCONSOLE_INSTANCES_DIR: logDir }),
      stop: () => daemons.stop(),
    };
  } catch (err) {
    await daemons.stop();
    throw err;
  }
}

/** A demo guest a crashed demo left defined on a reused libvirt: its name is the demo's own. */
async function removeDomain(daemons: LibvirtDaemons, name: string): Promise<void> {
  const known = await daemons.virsh('list', '--all', '--name').then((out) => out.split('\n').map((l) => l.trim()), (): string[] => []);
  if (!known.includes(name)) return;
  await daemons.virsh('destroy', name).catch(() => undefined);
  await daemons.virsh('undefine', name);
}
