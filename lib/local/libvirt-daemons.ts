/**
 * virtlogd + libvirtd from Debian's packages (`sudo bash scripts/install-libvirt.sh`) on a machine
 * without systemd, for the system-test harness (test/harness/libvirt.ts) and the
 * `npm start -- --libvirt` demo. Needs root.
 *
 * One libvirtd per machine (fixed socket paths): users take turns through the machine lock
 * (libvirt-machine-lock.ts), and whoever finds a predecessor's leftovers cleans them up. The
 * daemons use their own config files, except qemu.conf: system-mode libvirtd only reads
 * /etc/libvirt/qemu.conf, so the one here is swapped in and what was there is restored on stop.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { acquireMachineLock, type HarnessState, type MachineLock } from './libvirt-machine-lock.ts';
import { BUSYBOX } from './busybox-shell-initramfs.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The guest kernel scripts/install-libvirt.sh extracts from Debian's kernel package (not installed). */
export const GUEST_KERNEL_PATH = join(ROOT, '.vmconsole/guest/vmlinuz');
export const LIBVIRT_URI = 'qemu:///system';
const BINARIES = { libvirtd: '/usr/sbin/libvirtd', virtlogd: '/usr/sbin/virtlogd', virsh: '/usr/bin/virsh', qemu: '/usr/bin/qemu-system-x86_64', busybox: BUSYBOX };
const QEMU_CONF = '/etc/libvirt/qemu.conf';
const ALLOWED_CPUS = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
const FIRST_CPU = /^\d+/.exec(ALLOWED_CPUS)?.[0] ?? '0';
const QEMU_CONF_KEPT = `${QEMU_CONF}.vmconsole-orig`;
const QEMU_CONF_ABSENT = `${QEMU_CONF}.vmconsole-absent`;

/** Why real libvirt guests cannot run here, or undefined when they can. */
export function libvirtUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  for (const bin of Object.values(BINARIES)) {
    if (!existsSync(bin)) return `${bin} is missing`;
  }
  if (!existsSync(GUEST_KERNEL_PATH)) return `no guest kernel at ${GUEST_KERNEL_PATH}`;
  return undefined;
}

export interface LibvirtDaemonOptions {
  /** virtlogd max_size in bytes (default 2 MiB, virtlogd's own); small values make tests rotate. */
  maxSize?: number;
  /** virtlogd max_backups (default 3). */
  maxBackups?: number;
  /** How long to wait for another libvirt user on this machine to stop (default 10 min). */
  lockTimeoutMs?: number;
  /** Called once when the machine lock is held by someone else, before waiting for it. */
  onWait?: () => void;
  /** Called once the machine lock is held: from here on, stopping must wait for the start to finish. */
  onLocked?: () => void;
  /**
   * Use a libvirtd/virtlogd already running that this code did not start (a machine's own libvirt)
   * instead of failing; it is left running on stop. Default false: a test must know its daemons.
   */
  reuseRunning?: boolean;
}

export interface LibvirtDaemons {
  uri: string;
  /** A private directory (configs, daemon logs), removed by stop. */
  dir: string;
  /** The daemons started here; undefined when running ones were reused. */
  pids: { libvirtd: number; virtlogd: number } | undefined;
  /** `virsh -c <uri> ...args`, stdout. */
  virsh(...args: string[]): Promise<string>;
  /** PID of a running domain's QEMU process, undefined when it is not running. */
  qemuPid(uuid: string): Promise<number | undefined>;
  /** Remember a domain (and its QEMU process) to destroy and undefine on stop, even after a crash. */
  track(uuid: string): Promise<void>;
  /** Destroys and undefines the tracked domains, stops the daemons started here, waits until every process is gone. */
  stop(): Promise<void>;
}

export async function startLibvirtDaemons(options: LibvirtDaemonOptions = {}): Promise<LibvirtDaemons> {
  const reason = libvirtUnavailableReason();
  if (reason) throw new Error(`cannot start libvirt: ${reason}`);
  const lock = await acquireMachineLock(options.lockTimeoutMs ?? 600_000, options.onWait);
  options.onLocked?.();
  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-libvirt-'));
  const pidFiles = { virtlogd: join(dir, 'virtlogd.pid'), libvirtd: join(dir, 'libvirtd.pid') };
  const state: HarnessState = { daemonPids: [], qemuPids: [], domains: [] };
  try {
    if (lock.leftover) await cleanUp(lock.leftover);
    const strangers = [...(await processesNamed('libvirtd')), ...(await processesNamed('virtlogd'))];
    if (strangers.length > 0) {
      if (!options.reuseRunning) throw new Error(`libvirtd/virtlogd not started by this harness are running (pids ${strangers.join(', ')}); stop them first`);
      await waitUntilAnswering(30_000, '/dev/null');
      return daemons({ dir, state, lock, pids: undefined });
    }
    await writeConfigs(dir, options);
    await installQemuConf(join(dir, 'qemu.conf'));

    await run(BINARIES.virtlogd, ['-d', '-f', join(dir, 'virtlogd.conf'), '-p', pidFiles.virtlogd]);
    const virtlogd = await readPidFile(pidFiles.virtlogd);
    state.daemonPids.push(virtlogd);
    await lock.record(state);
    // libvirtd re-probes QEMU (~8 s) when the CPUID it reads at start differs from the cached one,
    // and CPUID differs between cores (APIC IDs): start it on one core, then let it (and the
    // QEMU processes it will fork) use every core again.
    // `libvirtd -d` exits 0 even when its QEMU driver failed: only an answer to virsh proves it is up.
    await run('taskset', ['-c', FIRST_CPU, BINARIES.libvirtd, '-d', '-f', join(dir, 'libvirtd.conf'), '-p', pidFiles.libvirtd]);
    const libvirtd = await readPidFile(pidFiles.libvirtd);
    state.daemonPids.push(libvirtd);
    await lock.record(state);
    await waitUntilAnswering(30_000, join(dir, 'libvirtd.log'));
    await unpin(libvirtd);
    return daemons({ dir, state, lock, pids: { libvirtd, virtlogd } });
  } catch (error) {
    await cleanUp(state).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await lock.release();
    throw error;
  }
}

function daemons(ctx: { dir: string; state: HarnessState; lock: MachineLock; pids: LibvirtDaemons['pids'] }): LibvirtDaemons {
  const { dir, state, lock } = ctx;
  return {
    uri: LIBVIRT_URI,
    dir,
    pids: ctx.pids,
    virsh,
    qemuPid,
    async track(uuid) {
      if (!state.domains.includes(uuid)) state.domains.push(uuid);
      const pid = await qemuPid(uuid);
      if (pid && !state.qemuPids.includes(pid)) state.qemuPids.push(pid);
      await lock.record(state);
    },
    async stop() {
      try {
        // Domains started with `virsh start` after track() have QEMU processes not seen yet.
        for (const uuid of state.domains) {
          const pid = await qemuPid(uuid).catch(() => undefined);
          if (pid && !state.qemuPids.includes(pid)) state.qemuPids.push(pid);
        }
        await cleanUp(state);
      } finally {
        await rm(dir, { recursive: true, force: true });
        await lock.release();
      }
    },
  };
}

async function writeConfigs(dir: string, options: LibvirtDaemonOptions): Promise<void> {
  await mkdir(join(dir, 'logs'));
  await writeFile(join(dir, 'qemu.conf'), 'user = "root"\ngroup = "root"\nsecurity_driver = "none"\nstdio_handler = "logd"\n');
  await writeFile(join(dir, 'virtlogd.conf'), [
    `max_size = ${options.maxSize ?? 2 * 1024 * 1024}`,
    `max_backups = ${options.maxBackups ?? 3}`,
    `log_outputs = "3:file:${join(dir, 'virtlogd.log')}"`,
  ].join('\n') + '\n');
  await writeFile(join(dir, 'libvirtd.conf'), `unix_sock_group = "root"\nlog_outputs = "3:file:${join(dir, 'libvirtd.log')}"\n`);
}

/** Everything in `state` ends: domains destroyed and undefined, daemons and QEMU processes gone, qemu.conf restored. */
async function cleanUp(state: HarnessState): Promise<void> {
  if (state.domains.length > 0 && (await answers())) {
    for (const uuid of state.domains) {
      await virsh('destroy', uuid).catch(() => undefined);
      await virsh('undefine', uuid).catch(() => undefined);
    }
  }
  // libvirtd before virtlogd: QEMU's log pipes go through virtlogd until libvirtd lets go.
  for (const pid of [...state.daemonPids].reverse()) await end(pid, ['libvirtd', 'virtlogd']);
  for (const pid of state.qemuPids) await end(pid, ['qemu-system-x86']);
  state.daemonPids.length = 0;
  state.qemuPids.length = 0;
  state.domains.length = 0;
  await restoreQemuConf();
}

async function installQemuConf(source: string): Promise<void> {
  // Remember what was there once (Debian ships qemu.conf only with libvirt-daemon-system); a
  // user that died leaves the memory in place, so the original is never lost.
  if (!existsSync(QEMU_CONF_KEPT) && !existsSync(QEMU_CONF_ABSENT)) {
    if (existsSync(QEMU_CONF)) await copyFile(QEMU_CONF, QEMU_CONF_KEPT);
    else await writeFile(QEMU_CONF_ABSENT, '');
  }
  await copyFile(source, QEMU_CONF);
}

async function restoreQemuConf(): Promise<void> {
  if (existsSync(QEMU_CONF_KEPT)) await rename(QEMU_CONF_KEPT, QEMU_CONF);
  else if (existsSync(QEMU_CONF_ABSENT)) await rm(QEMU_CONF, { force: true }).then(() => rm(QEMU_CONF_ABSENT));
}

async function virsh(...args: string[]): Promise<string> {
  return (await run(BINARIES.virsh, ['-c', LIBVIRT_URI, ...args], { env: { ...process.env, LANG: 'C' } })).stdout;
}

async function qemuPid(uuid: string): Promise<number | undefined> {
  const name = (await virsh('domname', uuid)).trim();
  const pid = Number((await readFile(`/run/libvirt/qemu/${name}.pid`, 'utf8').catch(() => '')).trim());
  return pid > 0 && (await commOf(pid)) === 'qemu-system-x86' ? pid : undefined;
}

/**
 * A libvirtd still initialising accepts connections and leaves them hanging: give up on each
 * attempt quickly and ask again, instead of waiting out one stuck connection.
 */
async function answers(): Promise<boolean> {
  try {
    await run(BINARIES.virsh, ['-c', LIBVIRT_URI, 'version'], { timeout: 1_000 });
    return true;
  } catch {
    return false;
  }
}

async function waitUntilAnswering(timeoutMs: number, daemonLog: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await answers())) {
    if (Date.now() > until) {
      const tail = (await readFile(daemonLog, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new Error(`libvirtd did not answer on ${LIBVIRT_URI} within ${timeoutMs} ms; its log ends:\n${tail}`);
    }
    await sleep(100);
  }
}

/**
 * Let libvirtd's threads use every core. `taskset --all-tasks` lists the threads, then sets each:
 * a worker thread that exits in between fails the whole call ("No such process") and leaves the
 * later threads pinned, so it is tried again until one pass finds every thread it listed.
 */
async function unpin(pid: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run('taskset', ['--all-tasks', '--pid', '--cpu-list', ALLOWED_CPUS, String(pid)]);
      return;
    } catch (error) {
      if (attempt >= 10 || !/No such process/.test(String(error))) throw error;
      await sleep(50);
    }
  }
}

/** The daemon writes its pid file after forking: poll for it. */
async function readPidFile(path: string): Promise<number> {
  const until = Date.now() + 10_000;
  for (;;) {
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid > 0) return pid;
    if (Date.now() > until) throw new Error(`no pid in ${path} 10 s after the daemon started`);
    await sleep(50);
  }
}

/** True while the process exists and is not a zombie. */
export async function processIsRunning(pid: number): Promise<boolean> {
  return (await commOf(pid)) !== undefined;
}

/**
 * The process's name (at most 15 characters), undefined once it is gone. A zombie counts as gone:
 * daemons are reparented to PID 1, which need not reap them at once (here it is not an init).
 */
async function commOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const m = /^\d+ \((.*)\) (\S)/s.exec(stat);
  return m && m[2] !== 'Z' && m[2] !== 'X' ? m[1] : undefined;
}

async function processesNamed(name: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const names = await Promise.all(pids.map(commOf));
  return pids.filter((_, i) => names[i] === name);
}

/** SIGTERM, then SIGKILL after 10 s; returns once the process is gone. Skips a pid now used by another program. */
async function end(pid: number, expectedNames: string[]): Promise<void> {
  const isOurs = async () => expectedNames.includes((await commOf(pid)) ?? '');
  for (const [signal, waitMs] of [['SIGTERM', 10_000], ['SIGKILL', 5_000]] as const) {
    if (!(await isOurs())) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const until = Date.now() + waitMs;
    while (Date.now() < until) {
      if (!(await isOurs())) return;
      await sleep(50);
    }
  }
  throw new Error(`process ${pid} (${expectedNames.join('/')}) survived SIGKILL`);
}
