/**
 * Real libvirt for system tests: virtlogd + libvirtd from Debian's packages (install them with
 * `sudo bash scripts/install-libvirt.sh`), started without systemd, and QEMU guests under TCG that
 * boot a real kernel with their console on ttyS0. Needs root.
 *
 *   const lv = await startLibvirt({ maxSize: 16384 });          // virtlogd rotates at 16 KiB
 *   const log = `${lv.logDir}/g1.log`;
 *   const uuid = await lv.create(lv.domainXml({ name: 'g1', console: { type: 'pty', log } }));
 *   await lv.waitForFile(log, /Kernel panic - not syncing/);    // ~5-10 s after create
 *   await lv.stop();                                            // domains, daemons, QEMU: all gone
 *
 * The daemons are started as lib/local/libvirt-daemons.ts starts them (as `npm start -- --libvirt`
 * does): one libvirtd per machine, taking turns through the machine lock; a libvirtd this harness
 * did not start makes startLibvirt fail, naming it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { domainNameOf, renderDomainXml, type DomainSpec } from '../../lib/local/guest-domain-xml.ts';
import { buildBusyboxInitramfs } from '../../lib/local/busybox-shell-initramfs.ts';
import { GUEST_KERNEL_PATH, libvirtUnavailableReason, startLibvirtDaemons, type LibvirtDaemons } from '../../lib/local/libvirt-daemons.ts';
import { skipOutsideCi } from '../helpers/require-tools.ts';
import { sleep } from '../helpers/wait.ts';

export type { ConsoleSpec, DomainSpec, NovaMetadata } from '../../lib/local/guest-domain-xml.ts';
export { libvirtUnavailableReason, processIsRunning } from '../../lib/local/libvirt-daemons.ts';

export const KERNEL_PATH = GUEST_KERNEL_PATH;

/**
 * Outside CI, a machine without libvirt skips the system suites with a loud message; in CI
 * that would hide a missing install step, so it fails instead.
 */
export function requireLibvirtOrSkip(): boolean {
  const reason = libvirtUnavailableReason();
  if (!reason) return true;
  return skipOutsideCi(`SYSTEM TESTS SKIPPED: real libvirt unavailable (${reason}). Run: sudo bash scripts/install-libvirt.sh && sudo npm test`);
}

export interface LibvirtOptions {
  /** virtlogd max_size in bytes (default 2 MiB, virtlogd's own); small values make tests rotate. */
  maxSize?: number;
  /** virtlogd max_backups (default 3). */
  maxBackups?: number;
  /** How long to wait for another harness on this machine to stop (default 10 min). */
  lockTimeoutMs?: number;
}

export interface LibvirtHarness {
  uri: string;
  kernelPath: string;
  /** A fresh directory for this harness's console logs (removed by stop). */
  logDir: string;
  /** The daemons this harness started. */
  pids: { libvirtd: number; virtlogd: number };
  domainXml(spec: DomainSpec): string;
  /** An initramfs giving a busybox shell on ttyS0 (built once per harness): put it in a spec's `initrd`. */
  shellInitrd(): Promise<string>;
  /** What an agent serving this harness's guests needs: the libvirt driver on its URI, its log dir as the only root. */
  agentEnv(host: string, instancesDir: string): Record<string, string>;
  /** `virsh create` (transient domain); returns its UUID. */
  create(xml: string, options?: { paused?: boolean }): Promise<string>;
  /** `virsh define` (persistent, inactive until `virsh start`); returns its UUID. */
  define(xml: string): Promise<string>;
  /** `virsh -c <uri> ...args`, stdout. */
  virsh(...args: string[]): Promise<string>;
  /** PID of a running domain's QEMU process, undefined when it is not running. */
  qemuPid(uuid: string): Promise<number | undefined>;
  /** Polls a file until its text (latin1) matches; returns that text. */
  waitForFile(path: string, pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Destroys and undefines the harness's domains, stops both daemons, waits until every process is gone. */
  stop(): Promise<void>;
}

export async function startLibvirt(options: LibvirtOptions = {}): Promise<LibvirtHarness> {
  return harness(await startLibvirtDaemons(options));
}

function harness(daemons: LibvirtDaemons): LibvirtHarness {
  const { dir, virsh } = daemons;
  const logDir = join(dir, 'logs');
  const submit = async (command: 'create' | 'define', xml: string, extra: string[]) => {
    const file = join(dir, `${randomUUID()}.xml`);
    await writeFile(file, xml);
    await virsh(command, file, ...extra);
    const uuid = (await virsh('domuuid', domainNameOf(xml))).trim();
    await daemons.track(uuid);
    return uuid;
  };
  return {
    uri: daemons.uri,
    kernelPath: KERNEL_PATH,
    logDir,
    pids: daemons.pids!,
    domainXml: (spec) => renderDomainXml(spec, KERNEL_PATH),
    shellInitrd: () => buildBusyboxInitramfs(dir),
    agentEnv: (host, instancesDir) => ({ VMCONSOLE_HOST: host, VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: daemons.uri, VMCONSOLE_LOG_ROOTS: logDir, VMCONSOLE_INSTANCES_DIR: instancesDir }),
    create: (xml, opts = {}) => submit('create', xml, opts.paused ? ['--paused'] : []),
    define: (xml) => submit('define', xml, []),
    virsh,
    qemuPid: daemons.qemuPid,
    async waitForFile(path, pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await readFile(path, 'latin1').catch(() => '');
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) throw new Error(`${pattern} did not appear in ${path} within ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    stop: () => daemons.stop(),
  };
}
