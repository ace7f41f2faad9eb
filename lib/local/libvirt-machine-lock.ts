/**
 * Only one libvirtd can run per machine (its sockets and /run/libvirt paths are fixed), so libvirt
 * harnesses in different test processes (and `npm start -- --libvirt`) take turns through flock(1) on a lock file. A child
 * `flock LOCK cat` holds the lock while it reads our stdin: if this process dies, the pipe closes,
 * cat exits and the kernel frees the lock, so there is never a stale lock to guess about.
 * A state file lists what the holder started; a holder that finds one knows its predecessor died
 * without stopping, and cleans up after it.
 */
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';

const LOCK_FILE = '/run/vmconsole-libvirt.lock';
const STATE_FILE = '/run/vmconsole-libvirt.state.json';

export interface HarnessState {
  daemonPids: number[];
  qemuPids: number[];
  /** UUIDs of the domains the harness created or defined. */
  domains: string[];
}

export interface MachineLock {
  /** What a previous holder left running when it died without stopping. */
  leftover: HarnessState | undefined;
  record(state: HarnessState): Promise<void>;
  /** Forget the state (everything recorded is gone) and let the next harness in. */
  release(): Promise<void>;
}

/** `onWait` is called once if the lock is not free within a second (someone else is using libvirt). */
export async function acquireMachineLock(timeoutMs: number, onWait?: () => void): Promise<MachineLock> {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const holder = spawn('flock', ['--exclusive', '--timeout', seconds, LOCK_FILE, 'sh', '-c', 'echo locked; exec cat'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => holder.once('exit', (code) => resolve(code)));
  const waiting = onWait ? setTimeout(onWait, 1_000) : undefined;
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.stdout.once('data', () => resolve());
    void exited.then((code) =>
      reject(new Error(`another libvirt harness kept ${LOCK_FILE} for more than ${seconds} s (flock exited ${code})`)));
  }).finally(() => clearTimeout(waiting));

  const leftover = await readFile(STATE_FILE, 'utf8').then((text) => JSON.parse(text) as HarnessState, () => undefined);
  return {
    leftover,
    record: (state) => writeFile(STATE_FILE, JSON.stringify(state)),
    async release() {
      await rm(STATE_FILE, { force: true });
      holder.stdin.end();
      await exited;
    },
  };
}
