import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_GUESTS } from '../../lib/local/demo-guests.ts';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { freePort } from '../../lib/local/ports.ts';
import { requireLibvirtOrSkip } from '../harness/libvirt.ts';
import { cleanEnv, OPENSTACK_BIN } from '../helpers/openstack-cli.ts';
import { skipOutsideCi } from '../helpers/require-tools.ts';
import { TempestWebSocket } from '../helpers/tempest-websocket.ts';
import { sleep } from '../helpers/wait.ts';

/**
 * `npm start -- --libvirt` as a user runs it: the real start process boots real QEMU guests under
 * libvirt (taking its turn on the machine's libvirt with the system tests), and a novnc URL from
 * the Nova API reaches QEMU's own VNC server through the relay and the agent's tunnel.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const START = join(ROOT, 'lib/local/start.ts');
const run = promisify(execFile);
/** The machine lock may be held by another engineer's system test for minutes; then TCG boots. */
const READY_MS = 900_000;
const runnable = requireLibvirtOrSkip()
  && (existsSync(OPENSTACK_BIN) || skipOutsideCi(`NPM START --LIBVIRT TEST SKIPPED: ${OPENSTACK_BIN} not found. Run: sudo bash scripts/install-openstack-clients.sh`));

let child: ChildProcess | undefined;
let work: string | undefined;
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  if (work) await rm(work, { recursive: true, force: true });
});

/** Processes whose command line names a demo guest's domain: QEMU runs with `-name guest=<domain>`. */
async function guestProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((e) => /^\d+$/.test(e))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (DEMO_GUESTS.some((g) => cmdline.includes(`guest=${g.domain}`))) found.push(`${pid}: ${cmdline.replace(/\0/g, ' ').slice(0, 120)}`);
  }
  return found;
}

const remoteConsole = (url: string, serverId: string) => fetch(`${url}/v2.1/servers/${serverId}/remote-consoles`, {
  method: 'POST',
  headers: { 'X-Auth-Token': 'demo:demo', 'Content-Type': 'application/json', 'OpenStack-API-Version': 'compute 2.6' },
  body: JSON.stringify({ remote_console: { protocol: 'vnc', type: 'novnc' } }),
});

describe.runIf(runnable)('npm start -- --libvirt', () => {
  it('boots the demo guests; a novnc URL reaches QEMU\'s RFB greeting through the relay; Ctrl-C destroys and undefines them', async () => {
    work = await mkdtemp(join(tmpdir(), 'vmconsole-start-libvirt-'));
    const port = await freePort();
    child = spawn(process.execPath, [START, '--libvirt', '--port', String(port), '--work-dir', work], { cwd: ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'WARN' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = once(child, 'exit');
    const until = Date.now() + READY_MS;
    while (!output.includes('Ctrl-C stops everything')) {
      if (child.exitCode !== null) throw new Error(`npm start -- --libvirt exited early:\n${output}`);
      if (Date.now() > until) throw new Error(`npm start -- --libvirt not ready:\n${output}`);
      await sleep(500);
    }
    const url = `http://127.0.0.1:${port}`;
    const guest = DEMO_GUESTS[0];
    // What it prints is what a user pastes: the clouds.yaml it wrote, then the real openstack client.
    const exported = /export OS_CLIENT_CONFIG_FILE=(\S+) OS_CLOUD=(\S+)/.exec(output);
    expect(exported, output).not.toBeNull();
    expect(output).toContain(`openstack console url show --novnc ${guest.name}`);
    const cli = await run(OPENSTACK_BIN, ['console', 'url', 'show', '--novnc', guest.name, '-f', 'value', '-c', 'url'], {
      cwd: ROOT, timeout: 120_000, env: cleanEnv({ OS_CLIENT_CONFIG_FILE: exported![1]!, OS_CLOUD: exported![2]! }),
    });
    const novncUrl = cli.stdout.trim();
    expect(novncUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/vnc_lite\.html\?path=%3Ftoken%3D[0-9a-f-]{36}$/);
    const ws = await TempestWebSocket.open(novncUrl);
    expect(ws.response).toMatch(/^HTTP\/1\.1 101 /);
    expect((await ws.receiveFrame())?.toString('latin1')).toBe('RFB 003.008\n');
    ws.close();

    // The files demo servers are still there, still without a graphical console.
    const files = await remoteConsole(url, DEMO_SERVERS[0].id);
    expect(files.status).toBe(400);
    expect(await files.json()).toEqual({ badRequest: { code: 400, message: 'Unavailable console type vnc.' } });

    expect(await guestProcesses()).toHaveLength(DEMO_GUESTS.length);
    child.kill('SIGINT');
    const [code] = (await exited) as [number];
    expect(code, output).toBe(0);
    expect(await guestProcesses()).toEqual([]);
    // A libvirtd still running (one this stack reused) no longer knows the guests either.
    const listed = await run('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name'], { timeout: 5_000 }).then((r) => r.stdout, () => '');
    for (const g of DEMO_GUESTS) expect(listed).not.toContain(g.domain);
  }, READY_MS + 120_000);
});
