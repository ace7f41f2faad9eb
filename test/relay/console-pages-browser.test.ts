import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { existsSync } from 'node:fs';
import { useConsoleRelayRig } from '../helpers/console-relay-rig.ts';
import { skipOutsideCi } from '../helpers/require-tools.ts';
import { RFB_DESKTOP_NAME } from '../helpers/rfb-server.ts';

// The relay's own pages in a real browser (Debian's Chromium): the noVNC page loads noVNC from the
// relay and completes an RFB handshake with the test RFB server behind the host stand-in; the
// serial page sends keystrokes and shows what the line answers. (The same pages against real
// QEMU guests are the system tests' business.)
const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM) || skipOutsideCi('BROWSER TESTS SKIPPED: /usr/bin/chromium not found. Run: sudo bash scripts/install-chromium.sh');

describe.runIf(haveChromium)('console pages in Chromium', () => {
  const rig = useConsoleRelayRig();
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('vnc_lite.html connects through the relay and shows the desktop\'s name', async () => {
    const { json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'vnc', type: 'novnc' } });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    try {
      await page.goto(json.remote_console.url);
      // Expressions as strings: they run in the page (this project's TypeScript has no DOM types).
      await page.waitForFunction(`document.getElementById('status')?.textContent === 'Connected'`, undefined, { timeout: 15_000 });
      await page.waitForFunction(`document.title.startsWith(${JSON.stringify(RFB_DESKTOP_NAME)})`, undefined, { timeout: 5_000 });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('serial.html types into the line and shows its answer', async () => {
    const { json } = await rig.remoteConsole(rig.servers.vm.id, { remote_console: { protocol: 'serial', type: 'serial' } });
    const token = new URL(json.remote_console.url).searchParams.get('token')!;
    const page = await browser.newPage();
    try {
      await page.goto(`${rig.relay.addresses.serial}/serial.html?token=${token}`);
      await page.waitForFunction(`document.getElementById('status')?.textContent === 'Connected'`, undefined, { timeout: 15_000 });
      await page.locator('.xterm-helper-textarea').focus();
      await page.keyboard.type('hello relay');
      const screen = () => page.evaluate<string>(`window.term.buffer.active.getLine(0)?.translateToString(true) ?? ''`);
      await expect.poll(screen, { timeout: 10_000 }).toBe('hello relay');
      expect(Buffer.concat(rig.echo.received).toString()).toContain('hello relay');
    } finally {
      await page.close();
    }
  });
});
