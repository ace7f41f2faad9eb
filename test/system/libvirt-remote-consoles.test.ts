/**
 * Remote consoles on real libvirt: a QEMU guest (TCG) booting a busybox shell on ttyS0, with
 * Nova's serial console (a tcp chardev bound to 127.0.0.1 and logged by virtlogd) and a VNC
 * display (autoport on 127.0.0.1); a real agent process asked through SQS (fauxqs) as the edge
 * asks it; the relay's tunnel path played by a real `ws` server the agent dials.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/local/local-stack.ts';
import type { RequestKind } from '../../lib/contracts/messages.ts';
import { askHost, type AskOf } from '../../lib/transport/ask-host.ts';
import type { Requester } from '../../lib/transport/requester.ts';
import { SHELL_READY } from '../harness/busybox-initramfs.ts';
import { requireLibvirtOrSkip, startLibvirt, type LibvirtHarness } from '../harness/libvirt.ts';
import { kill, startAgentProcess } from '../helpers/agent-process.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { startRequester } from '../helpers/transport-fixture.ts';
import { startTunnelEndpoint, type AcceptedTunnel, type TunnelEndpoint } from '../helpers/tunnel-endpoint.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);
const BOOT_MS = 240_000;
const HOST = 'rc-libvirt-1';
const runnable = requireLibvirtOrSkip();

describe.runIf(runnable)('remote consoles of a real libvirt guest, through a real agent', () => {
  const aws = useLocalAws();
  let lv: LibvirtHarness;
  let work: string;
  let relay: TunnelEndpoint;
  let agent: ChildProcess;
  let requester: Requester;
  let uuid: string;
  let serialPort: number;
  let log: string;
  let agentLog: string;
  const server = () => ({ id: uuid, instanceName: 'instance-000000c1' });

  beforeAll(async () => {
    lv = await startLibvirt();
    work = await mkdtemp(join(tmpdir(), 'vmconsole-remote-consoles-'));
    relay = await startTunnelEndpoint();
    serialPort = await freePort();
    log = join(lv.logDir, 'shell-console.log');
    uuid = await lv.create(lv.domainXml({
      name: 'instance-000000c1',
      // Nova's serial console: tcp bind on the compute's proxyclient address, logged by virtlogd.
      console: { type: 'tcp', port: serialPort, log, append: true },
      graphics: 'vnc',
      initrd: await lv.shellInitrd(),
    }));
    agentLog = join(work, 'agent.log');
    agent = await startAgentProcess(aws.env, {
      host: HOST, directory: aws.directory, logFile: agentLog,
      extraEnv: { ...lv.agentEnv(HOST, join(work, 'instances')), VMCONSOLE_RELAY_URL_PREFIXES: relay.prefix, POWERTOOLS_LOG_LEVEL: 'INFO' },
    });
    requester = startRequester(aws);
    // Output before any TCP client reaches only the log: the shell is up once init said so there.
    await lv.waitForFile(log, new RegExp(SHELL_READY), BOOT_MS);
  }, 2 * BOOT_MS);

  afterAll(async () => {
    await requester?.close();
    await kill(agent);
    await relay?.close();
    await lv?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const ask = <K extends RequestKind>(kind: K, body: AskOf<K>) => askHost(requester, kind, HOST, body, { deadline: Date.now() + 30_000, requestId: `req-${randomUUID()}` });
  const refusal = <K extends RequestKind>(kind: K, body: AskOf<K>) => ask(kind, body).then(() => undefined, (err: unknown) => err);
  /** A session through the tunnel, as the relay would open it. */
  const open = async (protocol: 'vnc' | 'serial', port: number): Promise<AcceptedTunnel> => {
    const id = randomUUID().replace(/-/g, '');
    await expect(ask('console.connect', { server: server(), protocol, port, tunnelUrl: relay.urlFor(id) })).resolves.toEqual({ connected: true });
    return relay.tunnel(id);
  };
  const liveVncPort = async () => Number(/<graphics type='vnc' port='(\d+)'/.exec(await lv.virsh('dumpxml', uuid))?.[1]);

  it('console.endpoint: the live VNC port libvirt allocated, Nova\'s serial port; no SPICE console', async () => {
    const vnc = await ask('console.endpoint', { server: server(), protocol: 'vnc' });
    expect(vnc).toEqual({ port: await liveVncPort(), tlsPort: null });
    expect(vnc.port).toBeGreaterThanOrEqual(5900);
    expect(await ask('console.endpoint', { server: server(), protocol: 'serial' })).toEqual({ port: serialPort, tlsPort: null });
    expect(await refusal('console.endpoint', { server: server(), protocol: 'spice' })).toMatchObject({ code: 'NoConsole', message: 'This server has no SPICE console now.' });
  });

  it('VNC: the tunnel receives QEMU\'s own RFB greeting', async () => {
    const tunnel = await open('vnc', await liveVncPort());
    expect(await tunnel.waitFor(/^RFB 003\.008\n$/, 15_000)).toBe('RFB 003.008\n');
    tunnel.socket.close();
  }, 60_000);

  it('serial: a command typed through the tunnel runs in the guest shell, the answer comes back, and virtlogd logs the same text meanwhile', async () => {
    const tunnel = await open('serial', serialPort);
    const token = randomUUID().slice(0, 8);
    // The shell computes 42: the answer is the shell's, not the terminal's echo of the typed line.
    tunnel.send(`echo hello-$((6*7))-${token}\n`);
    await tunnel.waitFor(new RegExp(`\\nhello-42-${token}\\r?\\n`), 30_000);
    await lv.waitForFile(log, new RegExp(`hello-42-${token}`), 15_000);
    tunnel.socket.close();
  }, 60_000);

  it('two viewers on one serial console both see the output, either can type; a viewer that stops reading is dropped while the other keeps receiving', async () => {
    const a = await open('serial', serialPort);
    const b = await open('serial', serialPort);
    const token = randomUUID().slice(0, 8);
    b.send(`echo two-$((1+1))-${token}\n`);
    await a.waitFor(new RegExp(`two-2-${token}`), 30_000);
    await b.waitFor(new RegExp(`two-2-${token}`), 30_000);

    const slow = await open('serial', serialPort);
    slow.stopReading();
    // A flood larger than the agent's per-viewer cap plus the kernel's socket buffers (the
    // viewer is dropped after ~1.2 MB here), at the UART's pace (QEMU paces it: ~35 KB/s).
    const end = randomUUID().slice(0, 8);
    a.send(`yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz | head -c 2500000; echo flood-$((2+3))-${end}\n`);
    const dropped = async () => (await readFile(agentLog, 'utf8')).split('\n').filter((l) => /viewer dropped/.test(l));
    await waitFor(async () => (await dropped()).length > 0, 200_000, 'the agent to drop the viewer that stopped reading');
    // Reading again, it finds its tunnel cut without a close frame: the agent did not wait for it.
    slow.resumeReading();
    expect(await slow.closed).toBe(1006);
    await b.waitFor(new RegExp(`flood-5-${end}`), 200_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; the agent dropped: ${(await dropped()).join('\n')}`);
    });
    await a.waitFor(new RegExp(`flood-5-${end}`), 30_000);
    await lv.waitForFile(log, new RegExp(`flood-5-${end}`), 30_000).catch(async () => {
      // virtlogd may have rotated the flood out of the live file: the marker is then in the newest backup.
      await lv.waitForFile(`${log}.0`, new RegExp(`flood-5-${end}`), 1_000);
    });
    // Only the viewer that stopped reading was dropped.
    expect(await dropped()).toEqual([expect.stringMatching(/serial viewer dropped.*not reading fast enough/)]);
    a.socket.close();
    b.socket.close();
  }, 420_000);

  it('refuses a port that is no longer the server\'s console, and a tunnel outside the relay prefixes', async () => {
    const vncPort = await liveVncPort();
    expect(await refusal('console.connect', { server: server(), protocol: 'vnc', port: vncPort + 1, tunnelUrl: relay.urlFor('stale') }))
      .toMatchObject({ code: 'NoConsole', message: expect.stringMatching(/no longer this server's/) });
    expect(await refusal('console.connect', { server: server(), protocol: 'vnc', port: vncPort, tunnelUrl: 'ws://127.0.0.1:9/elsewhere/x' }))
      .toMatchObject({ code: 'Forbidden', message: 'The compute host does not dial this console relay.' });
    expect(relay.dialled()).not.toContain('stale');
  });

  it('the agent listens on nothing, sessions open or not: every console connection is one it dialled', async () => {
    const vnc = await open('vnc', await liveVncPort());
    const serial = await open('serial', serialPort);
    await vnc.waitFor(/RFB/, 15_000);
    const { stdout } = await run('ss', ['-ltnpH']);
    const agentListens = stdout.split('\n').filter((line) => line.includes(`pid=${agent.pid},`));
    expect(agentListens).toEqual([]);
    // Its connections are outbound: to QEMU on loopback and to the relay.
    const { stdout: established } = await run('ss', ['-tnpH', 'state', 'established']);
    const own = established.split('\n').filter((line) => line.includes(`pid=${agent.pid},`));
    expect(own.some((line) => line.includes(`127.0.0.1:${serialPort} `))).toBe(true);
    expect(own.some((line) => line.includes(`${new URL(relay.prefix).host} `))).toBe(true);
    vnc.socket.close();
    serial.socket.close();
    await waitFor(async () => /console session closed.*"protocol":"serial"/.test(await readFile(agentLog, 'utf8')), 10_000, 'the session log');
    const closedLine = (await readFile(agentLog, 'utf8')).split('\n').find((l) => /console session closed/.test(l) && /"protocol":"vnc"/.test(l))!;
    expect(JSON.parse(closedLine)).toMatchObject({ requestId: expect.stringMatching(/^req-/), serverId: uuid, durationMs: expect.any(Number), bytesToRelay: expect.any(Number), bytesFromRelay: 0 });
  }, 60_000);
});
