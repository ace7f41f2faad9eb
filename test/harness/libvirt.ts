/**
 * Real libvirt for system tests: virtlogd + libvirtd started without systemd from Debian's
 * packages (scripts/install-libvirt.sh), QEMU guests under TCG booting a real kernel with the
 * console on ttyS0. Only one libvirtd can run per machine (fixed socket paths).
 *
 *   const lv = await startLibvirt({ maxSize: 16384 });
 *   await lv.create(lv.domainXml({ name: 'g1', console: { type: 'pty', log: `${lv.logDir}/g1.log` } }));
 *   await lv.waitForFile(`${lv.logDir}/g1.log`, /Kernel panic/);
 *   await lv.stop();
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KERNEL_PATH = join(ROOT, '.vmconsole/guest/vmlinuz');
const URI = 'qemu:///system';

/** Why system tests cannot run here, or undefined when they can. */
export function libvirtUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const bin of ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/virsh', '/usr/bin/qemu-system-x86_64']) {
    if (!existsSync(bin)) return `${bin} is missing`;
  }
  if (!existsSync(KERNEL_PATH)) return `no guest kernel at ${KERNEL_PATH}`;
  return undefined;
}

/**
 * Outside CI, a machine without libvirt skips the system suites with a loud message; in CI
 * that would hide a missing install step, so it fails instead.
 */
export function requireLibvirtOrSkip(): boolean {
  const reason = libvirtUnavailableReason();
  if (!reason) return true;
  const message = `SYSTEM TESTS SKIPPED: real libvirt unavailable (${reason}). Run: sudo bash scripts/install-libvirt.sh && sudo npm test`;
  if (process.env.CI === 'true') throw new Error(message.replace('SKIPPED', 'CANNOT RUN IN CI'));
  console.warn(`\n*** ${message} ***\n`);
  return false;
}

export interface ConsoleSpec {
  type: 'pty' | 'tcp' | 'file' | 'none';
  /** virtlogd log file (pty, tcp) or the file console's path (file). */
  log?: string;
  append?: boolean;
  /** tcp: port to bind on 127.0.0.1. */
  port?: number;
}

export interface DomainSpec {
  name: string;
  uuid?: string;
  console: ConsoleSpec;
  /** Add Nova's instance metadata, as Nova's libvirt driver writes it. */
  nova?: { name: string; projectId: string; userId: string };
  /** Kernel command line extras; default keeps the guest running after its panic. */
  cmdline?: string;
  /** Reboot (panic=-1) then stop: used to produce several boots into one appended log. */
  onReboot?: 'restart' | 'destroy';
}

export interface LibvirtHarness {
  uri: string;
  kernelPath: string;
  /** A fresh directory for this harness's console logs. */
  logDir: string;
  domainXml(spec: DomainSpec): string;
  /** `virsh create` (transient domain); returns its UUID. */
  create(xml: string, options?: { paused?: boolean }): Promise<string>;
  /** `virsh define` (persistent, inactive until started); returns its UUID. */
  define(xml: string): Promise<string>;
  virsh(...args: string[]): Promise<string>;
  waitForFile(path: string, pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startLibvirt(options: { maxSize?: number; maxBackups?: number } = {}): Promise<LibvirtHarness> {
  const reason = libvirtUnavailableReason();
  if (reason) throw new Error(`cannot start libvirt: ${reason}`);
  if (await answers()) throw new Error('a libvirtd not started by this harness is already running; stop it first');

  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-libvirt-'));
  const logDir = join(dir, 'logs');
  await run('mkdir', ['-p', logDir]);
  const conf = {
    qemu: join(dir, 'qemu.conf'),
    virtlogd: join(dir, 'virtlogd.conf'),
    libvirtd: join(dir, 'libvirtd.conf'),
  };
  const pids = { virtlogd: join(dir, 'virtlogd.pid'), libvirtd: join(dir, 'libvirtd.pid') };
  await writeFile(conf.qemu, 'user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "logd"\n');
  await writeFile(conf.virtlogd, `max_size = ${options.maxSize ?? 2 * 1024 * 1024}\nmax_backups = ${options.maxBackups ?? 3}\nlog_outputs = "3:file:${join(dir, 'virtlogd.log')}"\n`);
  await writeFile(conf.libvirtd, `unix_sock_group = "root"\nlog_outputs = "3:file:${join(dir, 'libvirtd.log')}"\n`);
  await installQemuConf(conf.qemu);

  await run('/usr/sbin/virtlogd', ['-d', '-f', conf.virtlogd, '-p', pids.virtlogd]);
  await run('/usr/sbin/libvirtd', ['-d', '-f', conf.libvirtd, '-p', pids.libvirtd]);
  const until = Date.now() + 30_000;
  while (!(await answers())) {
    if (Date.now() > until) {
      await killByPidFile(pids.libvirtd);
      await killByPidFile(pids.virtlogd);
      throw new Error('libvirtd did not answer within 30 s');
    }
    await sleep(100);
  }

  const created = new Set<string>();
  const virsh = async (...args: string[]) => (await run('virsh', ['-c', URI, ...args], { env: { ...process.env, LANG: 'C' } })).stdout;
  const uuidOf = async (name: string) => (await virsh('domuuid', name)).trim();

  return {
    uri: URI,
    kernelPath: KERNEL_PATH,
    logDir,
    domainXml: (spec) => renderDomainXml(spec),
    async create(xml, opts = {}) {
      const file = join(dir, `${randomUUID()}.xml`);
      await writeFile(file, xml);
      await virsh('create', file, ...(opts.paused ? ['--paused'] : []));
      const uuid = await uuidOf(nameOf(xml));
      created.add(uuid);
      return uuid;
    },
    async define(xml) {
      const file = join(dir, `${randomUUID()}.xml`);
      await writeFile(file, xml);
      await virsh('define', file);
      const uuid = await uuidOf(nameOf(xml));
      created.add(uuid);
      return uuid;
    },
    virsh,
    async waitForFile(path, pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await readFile(path, 'latin1').catch(() => '');
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) throw new Error(`${pattern} did not appear in ${path} within ${timeoutMs} ms`);
        await sleep(200);
      }
    },
    async stop() {
      for (const uuid of created) {
        await virsh('destroy', uuid).catch(() => undefined);
        await virsh('undefine', uuid).catch(() => undefined);
      }
      await killByPidFile(pids.libvirtd);
      await killByPidFile(pids.virtlogd);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function renderDomainXml(spec: DomainSpec): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
  const { console: c } = spec;
  const log = c.log ? `<log file='${esc(c.log)}' append='${c.append ? 'on' : 'off'}'/>` : '';
  const serial = {
    pty: `<serial type='pty'>${log}<target port='0'/></serial><console type='pty'>${log}<target type='serial' port='0'/></console>`,
    tcp: `<serial type='tcp'><source mode='bind' host='127.0.0.1' service='${c.port ?? 0}'/><protocol type='raw'/>${log}<target port='0'/></serial>`
      + `<console type='tcp'><source mode='bind' host='127.0.0.1' service='${c.port ?? 0}'/><protocol type='raw'/>${log}<target type='serial' port='0'/></console>`,
    file: `<serial type='file'><source path='${esc(c.log ?? '')}'/><target port='0'/></serial><console type='file'><source path='${esc(c.log ?? '')}'/><target type='serial' port='0'/></console>`,
    none: '',
  }[c.type];
  const nova = spec.nova
    ? `<metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"><nova:package version="27.0.0"/><nova:name>${esc(spec.nova.name)}</nova:name>`
      + `<nova:creationTime>2026-11-23 00:00:00</nova:creationTime><nova:owner><nova:user uuid="${esc(spec.nova.userId)}">demo</nova:user>`
      + `<nova:project uuid="${esc(spec.nova.projectId)}">demo</nova:project></nova:owner></nova:instance></metadata>`
    : '';
  const panic = spec.onReboot === 'restart' ? 'panic=-1' : 'panic=0';
  return `<domain type='qemu'>
  <name>${esc(spec.name)}</name>
  ${spec.uuid ? `<uuid>${spec.uuid}</uuid>` : ''}
  ${nova}
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${KERNEL_PATH}</kernel><cmdline>console=ttyS0,115200n8 ${panic} ${spec.cmdline ?? ''}</cmdline></os>
  <on_reboot>${spec.onReboot ?? 'destroy'}</on_reboot>
  <devices>${serial}</devices>
</domain>`;
}

function nameOf(xml: string): string {
  const m = /<name>([^<]+)<\/name>/.exec(xml);
  if (!m?.[1]) throw new Error('domain XML has no <name>');
  return m[1];
}

async function installQemuConf(source: string): Promise<void> {
  // libvirtd (system mode) reads /etc/libvirt/qemu.conf; keep the packaged one aside once.
  const target = '/etc/libvirt/qemu.conf';
  if (existsSync(target) && !existsSync(`${target}.vmconsole-orig`)) await run('cp', [target, `${target}.vmconsole-orig`]);
  await run('cp', [source, target]);
}

async function answers(): Promise<boolean> {
  try {
    await run('virsh', ['-c', URI, 'version'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

async function killByPidFile(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
