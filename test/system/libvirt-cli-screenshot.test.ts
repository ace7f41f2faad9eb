/**
 * `vmconsole screenshot` of a real QEMU guest under real libvirtd, through the whole local stack:
 * the CLI finds the guest by its Nova name, the screenshot function asks the libvirt host's agent,
 * `virsh screenshot` takes QEMU's screen and the agent makes it a PNG. A guest without graphics is
 * exit 6 (409 NoGraphics).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.ts';
import { startLibvirt, requireLibvirtOrSkip, type LibvirtHarness } from '../harness/libvirt.ts';
import { runCli } from '../helpers/cli-process.ts';
import { waitFor } from '../helpers/wait.ts';

const PANIC = /Kernel panic - not syncing/;
const runnable = requireLibvirtOrSkip();

describe.runIf(runnable)('vmconsole screenshot of a real libvirt guest through the whole stack', () => {
  let lv: LibvirtHarness;
  let stack: LocalStack;
  let workDir: string;

  beforeAll(async () => {
    lv = await startLibvirt();
    workDir = await mkdtemp(join(tmpdir(), 'vmconsole-system-cli-screenshot-'));
    stack = await startLocalStack({ workDir, httpPort: 0, agentEnv: lv.agentEnv('libvirt-host-1', join(workDir, 'nova-instances')) });
  }, 480_000);
  afterAll(async () => {
    await stack?.stop();
    await lv?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('a guest with VNC by name: its screen as a PNG file; a guest without graphics: exit 6 NoGraphics', async () => {
    const project = randomUUID().replace(/-/g, '');
    const user = randomUUID().replace(/-/g, '');
    const boot = async (name: string, graphics: boolean) => {
      const uuid = randomUUID();
      const log = join(lv.logDir, uuid, 'console.log');
      await mkdir(join(lv.logDir, uuid));
      await lv.create(lv.domainXml({ name: `instance-${uuid.slice(0, 8)}`, uuid, console: { type: 'pty', log, append: false }, nova: { name, projectId: project, userId: user }, ...(graphics && { graphics: 'vnc' as const }) }));
      return { uuid, log };
    };
    const withScreen = await boot('screen-vm', true);
    const headless = await boot('headless-vm', false);
    await lv.waitForFile(withScreen.log, PANIC, 180_000);
    await waitFor(async () => (await stack.directory.getServer(headless.uuid)) !== undefined, 30_000, 'both guests in the directory');
    const env = { VMCONSOLE_URL: stack.url, VMCONSOLE_TOKEN: `${user}:${project}` };
    const file = join(workDir, 'screen.png');

    const run = await runCli(['screenshot', 'screen-vm', '-o', file], { env, cwd: workDir });
    expect(run.code, run.stderr).toBe(0);
    const png = await readFile(file);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    expect(width).toBeGreaterThan(100);
    expect(height).toBeGreaterThan(100);
    expect(run.stdout).toBe(`${file}: ${width}x${height} PNG, ${png.length} bytes (screen-vm, ${withScreen.uuid})\n`);
    console.log(`real guest via the CLI: ${width}x${height} PNG, ${png.length} bytes`);

    const none = await runCli(['screenshot', 'headless-vm', '-o', join(workDir, 'none.png'), '--json'], { env, cwd: workDir });
    expect(none.code).toBe(6);
    expect(JSON.parse(none.stderr).error).toMatchObject({ code: 'NoGraphics', exitCode: 6 });
  }, 300_000);
});
