/**
 * The whole stack on real libvirt: HTTP API (serverless-offline) -> SQS (fauxqs) -> agent with the
 * libvirt driver -> virsh -> virtlogd's log files, with QEMU guests booting a real kernel.
 * Only one libvirtd can run per machine: harnesses in different files take turns (machine lock).
 * QEMU emulates without KVM here, so on a loaded machine a boot can take several times longer:
 * every test gets a generous limit.
 */
const BOOT_TEST_MS = 240_000;
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, freePort, type LocalStack } from '../../lib/local/local-stack.ts';
import { startLibvirt, requireLibvirtOrSkip, type LibvirtHarness } from '../harness/libvirt.ts';
import { novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { eventually, sleep } from '../helpers/wait.ts';

const PANIC = /Kernel panic - not syncing/;

/** A virtlogd log and its rotated files (`.0` newest), oldest first: what the agent must read. */
async function rotatedLog(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const file of [path, ...Array.from({ length: 8 }, (_, i) => `${path}.${i}`)]) {
    const content = await readFile(file).catch(() => undefined);
    if (!content) break;
    parts.unshift(content);
  }
  const all = Buffer.concat(parts);
  return all.subarray(Math.max(0, all.length - 102_400));
}
const ADMIN = 'admin:admin';
const runnable = requireLibvirtOrSkip();

describe.runIf(runnable)('console output from real libvirt guests through the whole stack', () => {
  let lv: LibvirtHarness;
  let stack: LocalStack;
  let workDir: string;

  beforeAll(async () => {
    lv = await startLibvirt({ maxSize: 16384, maxBackups: 3 });
    workDir = await mkdtemp(join(tmpdir(), 'vmconsole-system-'));
    stack = await startLocalStack({
      workDir,
      // The longest heartbeat the agent accepts: inventory changes must come from libvirt events, not from polling.
      heartbeatMs: 40_000,
      agentEnv: lv.agentEnv('libvirt-host-1', join(workDir, 'nova-instances')),
    });
  }, 2 * BOOT_TEST_MS);

  afterAll(async () => {
    await stack?.stop();
    await lv?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  const consoleOutput = async (id: string, body: object = {}, token = ADMIN) => {
    const res = await fetch(`${stack.url}/v2.1/servers/${id}/action`, {
      method: 'POST',
      headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ 'os-getConsoleOutput': body }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const output = async (id: string, body: object = {}, token = ADMIN) => {
    const res = await consoleOutput(id, body, token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body as { output: string }).output;
  };
  const showStatus = async (id: string) => {
    const res = await fetch(`${stack.url}/v2.1/servers/${id}`, { headers: { 'X-Auth-Token': ADMIN } });
    return res.status === 200 ? ((await res.json()) as { server: { status: string } }).server.status : res.status;
  };
  /** Guests under emulation on a loaded machine: wait up to 15 s unless told. */
  const BOOT_WAIT_MS = 15_000;

  it('a Nova-style guest (pty console, virtlogd log, Nova metadata): boot and panic lines, length truncation', async () => {
    const project = randomUUID().replace(/-/g, '');
    const user = randomUUID().replace(/-/g, '');
    const log = join(lv.logDir, 'nova-style.log');
    const id = await lv.create(lv.domainXml({
      name: 'instance-00000001',
      console: { type: 'pty', log, append: false },
      nova: { name: 'web-1', projectId: project, userId: user },
    }));
    await lv.waitForFile(log, PANIC, 180_000);
    await eventually(() => showStatus(id), (s) => s === 'ACTIVE', BOOT_WAIT_MS);

    const full = await output(id, {}, `${user}:${project}`);
    expect(full).toMatch(/Linux version \d+\.\d+/);
    expect(full).toMatch(/Kernel panic - not syncing: VFS: Unable to mount root fs/);
    expect(full).not.toContain('\r');
    expect(full).toBe(novaConsoleOutput(await rotatedLog(log), null));

    for (const length of [5, '5', 1, 0, -1]) {
      const got = await output(id, { length }, `${user}:${project}`);
      expect(got).toBe(novaConsoleOutput(await rotatedLog(log), Number(length)));
    }
    expect((await output(id, { length: 5 }, `${user}:${project}`)).split('\n')).toHaveLength(5);

    // For the record (printed, not asserted): one request against a running real guest.
    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await output(id, { length: 20 }, `${user}:${project}`);
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    console.log(`console request against a running libvirt guest: median of 20 = ${((samples[9]! + samples[10]!) / 2).toFixed(1)} ms`);

    // The owner's project sees it; another project gets Nova's 404, never the log.
    const other = await consoleOutput(id, {}, 'mallory:other-project');
    expect(other.status).toBe(404);
    expect(other.body).toHaveProperty('itemNotFound');
  }, BOOT_TEST_MS);

  it('a tcp serial console with a log: a TCP reader and the API see the same bytes', async () => {
    const port = await freePort();
    const log = join(lv.logDir, 'tcp.log');
    const id = await lv.create(lv.domainXml({ name: 'tcp-guest', console: { type: 'tcp', log, append: false, port } }), { paused: true });
    const received: Buffer[] = [];
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.on('data', (chunk) => received.push(chunk));
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    await lv.virsh('resume', id);
    await lv.waitForFile(log, PANIC, 180_000);
    await eventually(async () => Buffer.concat(received).toString('latin1'), (s) => PANIC.test(s), BOOT_WAIT_MS);
    // Let the last lines reach both sinks before comparing.
    await sleep(1_000);
    socket.destroy();

    const viaTcp = Buffer.concat(received);
    expect(viaTcp.toString('latin1')).toMatch(/Linux version/);
    // The harness's virtlogd rotates at 16 KiB: the log and its backups hold what the socket saw.
    expect((await rotatedLog(log)).equals(viaTcp)).toBe(true);
    expect(await output(id)).toBe(novaConsoleOutput(viaTcp, null));
  }, BOOT_TEST_MS);

  it('virtlogd rotation across boots with append=on: the last 100 KiB window, oldest file first', async () => {
    const dir = join(lv.logDir, 'rotating');
    const log = join(dir, 'console.log');
    await mkdir(dir, { recursive: true });
    const uuid = randomUUID();
    // Boot until virtlogd has rotated at least twice; each boot runs to its panic (however slow
    // the emulation is on a busy machine) before the domain is destroyed.
    const liveState = async () => {
      const st = await stat(log).catch(() => undefined);
      const tail = (await readFile(log).catch(() => Buffer.alloc(0))).subarray(-300).toString('latin1');
      return { id: st ? `${st.ino}:${st.size}` : '', panicked: tail.includes('end Kernel panic') };
    };
    let running: string | undefined;
    for (let boot = 0; boot < 8; boot++) {
      // The last boot stays up: a transient domain that is destroyed is gone from libvirt.
      if (running) await lv.virsh('destroy', running);
      const before = (await liveState()).id;
      const id = await lv.create(lv.domainXml({ name: 'rotating-guest', uuid, console: { type: 'pty', log, append: true } }));
      const until = Date.now() + 90_000;
      for (;;) {
        const now = await liveState();
        if ((now.id !== before && now.panicked) || Date.now() > until) break;
        await sleep(250);
      }
      running = id;
      if (boot >= 2 && (await readFile(`${log}.1`).catch(() => undefined))) break;
    }
    const files = ['console.log.2', 'console.log.1', 'console.log.0', 'console.log'];
    const parts = (await Promise.all(files.map((f) => readFile(join(dir, f)).catch(() => undefined)))).filter((p) => p !== undefined);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const all = Buffer.concat(parts);
    const window = all.subarray(Math.max(0, all.length - 102_400));
    expect(await output(uuid)).toBe(novaConsoleOutput(window, null));
    expect((await output(uuid)).match(/Linux version/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  }, 2 * BOOT_TEST_MS);

  it("append='off' starts the log afresh at every boot; the Nova window still holds the boot before, from the console history", async () => {
    const log = join(lv.logDir, 'fresh.log');
    const uuid = randomUUID();
    const xml = lv.domainXml({ name: 'fresh-guest', uuid, console: { type: 'pty', log, append: false } });
    await lv.create(xml);
    await lv.waitForFile(log, PANIC, 180_000);
    await lv.virsh('destroy', uuid);
    const boot1 = await readFile(log, 'utf8');
    const panicLine = boot1.match(/^.*Kernel panic - not syncing.*$/m)![0].trim();
    await lv.create(xml);
    // virtlogd wipes the file at the second start: Nova's answer would lose boot 1 from here on.
    await eventually(() => readFile(log, 'utf8'), (t) => t !== boot1, 60_000);
    // The agent keeps history (this stack's agents do) and the Nova window is the end of the
    // server's whole history (README, "Console history and the console API"): boot 1 is still there.
    const text = await output(uuid);
    expect(text).toMatch(/Linux version/);
    expect(text).toContain(panicLine);
  }, BOOT_TEST_MS);

  it('a stopped domain still returns the log on disk (Nova answers 404 here)', async () => {
    const log = join(lv.logDir, 'stopped.log');
    const id = await lv.define(lv.domainXml({ name: 'stopped-guest', console: { type: 'pty', log, append: false } }));
    await lv.virsh('start', id);
    await lv.waitForFile(log, PANIC, 180_000);
    await lv.virsh('destroy', id);
    expect(await eventually(() => showStatus(id), (s) => s === 'SHUTOFF', BOOT_WAIT_MS)).toBe('SHUTOFF');
    const text = await output(id);
    expect(text).toMatch(/Linux version/);
    expect(text).toBe(novaConsoleOutput(await rotatedLog(log), null));
  }, BOOT_TEST_MS);

  it('no console -> 404; a console whose log does not exist yet -> 200 ""', async () => {
    const bare = await lv.define(lv.domainXml({ name: 'no-console-guest', console: { type: 'none' } }));
    const notYet = await lv.define(lv.domainXml({ name: 'not-yet-guest', console: { type: 'pty', log: join(lv.logDir, 'never-written.log') } }));
    await eventually(() => showStatus(notYet), (s) => s === 'SHUTOFF', BOOT_WAIT_MS);
    await eventually(() => showStatus(bare), (s) => s === 'SHUTOFF', BOOT_WAIT_MS);
    const missing = await consoleOutput(bare);
    expect(missing.status).toBe(404);
    expect(missing.body).toHaveProperty('itemNotFound.code', 404);
    const empty = await consoleOutput(notYet);
    expect(empty).toEqual({ status: 200, body: { output: '' } });
  }, BOOT_TEST_MS);

  it('libvirt events reach the directory within seconds: start, stop, undefine', async () => {
    const log = join(lv.logDir, 'events.log');
    const started = Date.now();
    const id = await lv.define(lv.domainXml({ name: 'events-guest', console: { type: 'pty', log } }));
    expect(await eventually(() => showStatus(id), (s) => s === 'SHUTOFF', 5_000)).toBe('SHUTOFF');
    await lv.virsh('start', id);
    expect(await eventually(() => showStatus(id), (s) => s === 'ACTIVE', 5_000)).toBe('ACTIVE');
    await lv.virsh('destroy', id);
    expect(await eventually(() => showStatus(id), (s) => s === 'SHUTOFF', 5_000)).toBe('SHUTOFF');
    await lv.virsh('undefine', id);
    expect(await eventually(() => showStatus(id), (s) => s === 404, 5_000)).toBe(404);
    // Far less than the 40 s heartbeat: these came from events.
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
