/**
 * Remote consoles end to end, nothing stood in: the `npm start` stack (fauxqs, dynalite,
 * serverless-offline running the real handlers, the console relay as a child process) with a real
 * agent process on the libvirt driver, and one real QEMU guest (TCG) booting a busybox shell on
 * ttyS0 with Nova's serial console (tcp on loopback, logged by virtlogd) and a VNC display.
 * Browser: Debian's Chromium through playwright-core. Screenshots go to .vmconsole/artifacts/
 * (gitignored).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/local/local-stack.ts';
import { SHELL_READY } from '../harness/busybox-initramfs.ts';
import { requireLibvirtOrSkip, startLibvirt, type LibvirtHarness } from '../harness/libvirt.ts';
import { skipOutsideCi } from '../helpers/require-tools.ts';
import { rfbNegotiation, TempestWebSocket } from '../helpers/tempest-websocket.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { eventually } from '../helpers/wait.ts';

const run = promisify(execFile);
const BOOT_MS = 240_000;
const HOST = 'e2e-libvirt-1';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '../../.vmconsole/artifacts');
const runnable = requireLibvirtOrSkip();
const haveChromium = existsSync(CHROMIUM) || skipOutsideCi('BROWSER TESTS SKIPPED: /usr/bin/chromium not found. Run: sudo bash scripts/install-chromium.sh');

/** A frame within `ms`, or an error naming what was awaited (receiveFrame alone waits forever). */
async function frameWithin(ws: TempestWebSocket, ms: number, what: string): Promise<Buffer | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([ws.receiveFrame(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe.runIf(runnable && haveChromium)('remote consoles end to end: Nova API, relay, agent and a real QEMU guest', () => {
  let lv: LibvirtHarness;
  let test: TestStack;
  let browser: Browser;
  let uuid: string;
  let serialPort: number;
  let log: string;
  const project = randomUUID().replace(/-/g, '');
  const user = randomUUID().replace(/-/g, '');
  const token = `${user}:${project}`;

  beforeAll(async () => {
    lv = await startLibvirt();
    const instances = join(lv.logDir, 'nova-instances');
    await mkdir(instances, { recursive: true });
    test = await startTestStack('remote-consoles-e2e', { agentEnv: lv.agentEnv(HOST, instances) });
    serialPort = await freePort();
    log = join(lv.logDir, 'e2e-console.log');
    uuid = await lv.create(lv.domainXml({
      name: 'instance-000000e2',
      nova: { name: 'e2e-1', projectId: project, userId: user },
      console: { type: 'tcp', port: serialPort, log, append: true },
      graphics: 'vnc',
      initrd: await lv.shellInitrd(),
    }));
    await lv.waitForFile(log, new RegExp(SHELL_READY), BOOT_MS);
    await eventually(async () => {
      const res = await fetch(`${test.endpoint}/servers/${uuid}`, { headers: { 'X-Auth-Token': token } });
      return res.status === 200 ? ((await res.json()) as { server: { status: string } }).server.status : res.status;
    }, (s) => s === 'ACTIVE', 30_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    await mkdir(ARTIFACTS, { recursive: true });
  }, 2 * BOOT_MS);

  afterAll(async () => {
    await browser?.close();
    await test?.stop();
    await lv?.stop();
  });

  const remoteConsole = async (protocol: 'vnc' | 'serial', type: 'novnc' | 'serial') => {
    const res = await fetch(`${test.endpoint}/servers/${uuid}/remote-consoles`, {
      method: 'POST',
      headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json', 'OpenStack-API-Version': 'compute 2.6' },
      body: JSON.stringify({ remote_console: { protocol, type } }),
    });
    const body = (await res.json()) as { remote_console: { protocol: string; type: string; url: string } };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.remote_console).toMatchObject({ protocol, type });
    return body.remote_console.url;
  };
  const serialToken = async () => new URL(await remoteConsole('serial', 'serial')).searchParams.get('token')!;

  it('tempest test_novnc: page markers, 101, and RFB 3.8 with the guest\'s own QEMU VNC server, one message per frame', async () => {
    const url = await remoteConsole('vnc', 'novnc');
    expect(url).toMatch(/\/vnc_lite\.html\?path=%3Ftoken%3D[0-9a-f-]{36}$/);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('noVNC');
    expect(html).toContain('<script');

    const ws = await TempestWebSocket.open(url);
    try {
      expect(ws.upgraded).toBe(true);
      const init = await rfbNegotiation(ws);
      // QEMU names its desktop after the domain: this is the guest's display, not a stand-in's.
      expect(init.subarray(24).toString()).toBe('QEMU (instance-000000e2)');
      const width = init.readUInt16BE(0);
      expect(width).toBeGreaterThanOrEqual(640);
    } finally {
      ws.close();
    }
  }, 60_000);

  it('tempest test_novnc_bad_token: the socket ends without a payload byte', async () => {
    const url = await remoteConsole('vnc', 'novnc');
    const ws = await TempestWebSocket.open(url.replace('%3Ftoken%3D', '%3Ftoken%3Dbad'));
    const frame = await frameWithin(ws, 10_000, 'end of the refused socket');
    expect(frame === null || frame.length === 0).toBe(true);
    const { bytes, ended } = await ws.drain(2_000);
    expect(ended).toBe(true);
    expect(bytes.length).toBe(0);
  }, 30_000);

  it('bytes a client sends right behind the 101, before the compute host has dialled in, reach QEMU', async () => {
    const ws = await TempestWebSocket.open(await remoteConsole('vnc', 'novnc'));
    try {
      expect(ws.upgraded).toBe(true);
      // The client's ProtocolVersion before the server's: the relay holds it until the tunnel is spliced.
      ws.sendFrame(Buffer.from('RFB 003.008\n'));
      // QEMU, having the client's version already, may answer with its greeting and the security
      // types in one write (one frame then): read until both are in.
      const next = async (ms: number, what: string) => {
        const frame = await frameWithin(ws, ms, what);
        if (!frame) throw new Error(`the socket ended before ${what}`);
        return frame;
      };
      let got = await next(20_000, 'ProtocolVersion');
      while (got.length < 13 || got.length < 13 + got[12]!) {
        got = Buffer.concat([got, await next(10_000, 'security types (QEMU never got the early ProtocolVersion)')]);
      }
      expect(got.subarray(0, 12).toString()).toBe('RFB 003.008\n');
      expect(got[12]).toBeGreaterThan(0);
      expect([...got.subarray(13, 13 + got[12]!)]).toContain(1);
    } finally {
      ws.close();
    }
  }, 60_000);

  it('Chromium: noVNC connects to the guest and its canvas shows the guest\'s screen', async () => {
    const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    try {
      await page.goto(await remoteConsole('vnc', 'novnc'));
      await page.waitForFunction(`document.getElementById('status')?.textContent === 'Connected'`, undefined, { timeout: 30_000 });
      await page.waitForFunction(`document.title.includes('instance-000000e2')`, undefined, { timeout: 10_000 });
      // The framebuffer arrives after the handshake: wait until the canvas holds something other than black.
      const lit = `(() => {
        const c = document.querySelector('canvas');
        if (!c || c.width < 640) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 0) n++;
        return n;
      })()`;
      await expect.poll(() => page.evaluate<number>(lit), { timeout: 30_000 }).toBeGreaterThan(100);
      const file = join(ARTIFACTS, 'remote-consoles-e2e-novnc.png');
      await page.screenshot({ path: file });
      expect((await stat(file)).size).toBeGreaterThan(1_000);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 90_000);

  it('Chromium: the serial page types into the guest\'s busybox shell and shows the answer, and virtlogd logs it meanwhile', async () => {
    const logBefore = (await stat(log)).size;
    const page = await browser.newPage();
    try {
      await page.goto(`${test.stack.relay.serial}/serial.html?token=${await serialToken()}`);
      await page.waitForFunction(`document.getElementById('status')?.textContent === 'Connected'`, undefined, { timeout: 30_000 });
      await page.locator('.xterm-helper-textarea').focus();
      const mark = randomUUID().slice(0, 8);
      // The shell computes 42: the answer is the shell's, not the terminal echoing the typed line.
      await page.keyboard.type(`echo e2e-$((6*7))-${mark}\n`);
      const screen = () => page.evaluate<string>(`(() => {
        const b = window.term.buffer.active; const lines = [];
        for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
        return lines.join('\\n');
      })()`);
      await expect.poll(screen, { timeout: 30_000 }).toMatch(new RegExp(`^e2e-42-${mark}$`, 'm'));
      await lv.waitForFile(log, new RegExp(`e2e-42-${mark}`), 15_000);
      expect((await stat(log)).size).toBeGreaterThan(logBefore);
      await page.screenshot({ path: join(ARTIFACTS, 'remote-consoles-e2e-serial.png') });
    } finally {
      await page.close();
    }
  }, 90_000);

  it('two browser viewers on one serial console: what one types, both see; the compute host listens on nothing but QEMU\'s loopback ports', async () => {
    const [a, b] = [await browser.newPage(), await browser.newPage()];
    try {
      for (const page of [a, b]) {
        await page.goto(`${test.stack.relay.serial}/serial.html?token=${await serialToken()}`);
        await page.waitForFunction(`document.getElementById('status')?.textContent === 'Connected'`, undefined, { timeout: 30_000 });
      }
      const screen = (page: typeof a) => page.evaluate<string>(`(() => {
        const b = window.term.buffer.active; const lines = [];
        for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
        return lines.join('\\n');
      })()`);
      const mark = randomUUID().slice(0, 8);
      await b.locator('.xterm-helper-textarea').focus();
      await b.keyboard.type(`echo two-$((1+1))-${mark}\n`);
      for (const page of [a, b]) await expect.poll(() => screen(page), { timeout: 30_000 }).toMatch(new RegExp(`^two-2-${mark}$`, 'm'));

      // Sessions are open: whatever listens now on this machine for the guest is QEMU's, on loopback.
      const { stdout } = await run('ss', ['-ltnpH']);
      const agentPid = test.stack.agent.pid!;
      expect(stdout.split('\n').filter((line) => line.includes(`pid=${agentPid},`))).toEqual([]);
      const qemuListens = stdout.split('\n').filter((line) => /"qemu/.test(line)).map((line) => line.split(/\s+/)[3]);
      const vncPort = Number(/<graphics type='vnc' port='(\d+)'/.exec(await lv.virsh('dumpxml', uuid))?.[1]);
      expect(qemuListens).toEqual(expect.arrayContaining([`127.0.0.1:${serialPort}`, `127.0.0.1:${vncPort}`]));
      expect(qemuListens.filter((address) => !address!.startsWith('127.0.0.1:'))).toEqual([]);
      // The agent's console connections are ones it dialled: QEMU's serial port and the relay's tunnel.
      const { stdout: established } = await run('ss', ['-tnpH', 'state', 'established']);
      const own = established.split('\n').filter((line) => line.includes(`pid=${agentPid},`));
      expect(own.some((line) => line.includes(`127.0.0.1:${serialPort} `))).toBe(true);
      expect(own.some((line) => line.includes(`${new URL(test.stack.relay.tunnel).host} `))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);

  it('the agent logged every session it served', async () => {
    const agentLog = await readFile(join(test.stack.workDir, 'agent.log'), 'utf8');
    expect(agentLog).toMatch(/console session opened.*"protocol":"vnc"/);
    expect(agentLog).toMatch(/console session opened.*"protocol":"serial"/);
  });
});
