/**
 * Remote-console sessions on the agent side (lib/agent/console-sessions.ts through the request
 * handler): what is connected to, what is dialled, what is refused, and how bytes flow. The
 * console is a loopback TCP server standing in for QEMU's VNC server (the real one is in
 * test/system/libvirt-remote-consoles.test.ts); the relay's tunnel path is a real `ws` server.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSessions, HIGH_WATER } from '../../lib/agent/console-sessions.ts';
import { createRequestHandler } from '../../lib/agent/handle-request.ts';
import { PROTOCOL_VERSION, type RequestOf } from '../../lib/contracts/messages.ts';
import type { ConsoleEndpoint, DiscoveredServer, HypervisorDriver } from '../../lib/hypervisors/driver.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { startTunnelEndpoint, type TunnelEndpoint } from '../helpers/tunnel-endpoint.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const server = { id: '5e1f0c7a-3b2d-4c6e-8f90-a1b2c3d4e5f6', instanceName: 'instance-0000002a' };
const context = (ms = 5_000) => ({ deadline: Date.now() + ms, signal: AbortSignal.timeout(ms), requestId: 'req-console-connect' });

/** A driver whose one server's consoles listen where `endpoint` says, as a hypervisor would answer. */
function driverWith(endpoint: () => ConsoleEndpoint | undefined): HypervisorDriver & { asked: string[] } {
  const asked: string[] = [];
  return {
    kind: 'libvirt',
    asked,
    async listServers(): Promise<DiscoveredServer[]> {
      return [];
    },
    async readConsoleLog() {
      return Buffer.alloc(0);
    },
    async consoleEndpoint(_server, protocol) {
      asked.push(protocol);
      return endpoint();
    },
  };
}

/** A console that greets like QEMU's VNC server and keeps what it is sent. */
interface FakeConsole {
  server: Server;
  port: number;
  clients: Socket[];
  received(): Buffer;
}
async function startConsole(greeting = 'RFB 003.008\n'): Promise<FakeConsole> {
  const clients: Socket[] = [];
  const chunks: Buffer[] = [];
  const server = createServer((socket) => {
    clients.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (d) => chunks.push(d));
    socket.write(greeting);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, clients, received: () => Buffer.concat(chunks) };
}

describe('console.connect', () => {
  let relay: TunnelEndpoint;
  let vnc: FakeConsole;
  let sessions: ConsoleSessions;
  let logger: ReturnType<typeof recordingLogger>;
  let n = 0;
  const nextId = () => `t${++n}`;
  const connect = (port: number, tunnelUrl: string, protocol: 'vnc' | 'spice' | 'serial' = 'vnc'): RequestOf<'console.connect'> =>
    ({ v: PROTOCOL_VERSION, kind: 'console.connect', server, protocol, port, tunnelUrl });

  beforeAll(async () => {
    relay = await startTunnelEndpoint();
    vnc = await startConsole();
  });
  afterEach(async () => {
    await sessions?.stop();
    relay.refuseWith(undefined);
    relay.sendOnAccept(undefined);
  });
  afterAll(async () => {
    await relay.close();
    for (const c of vnc.clients) c.destroy();
    vnc.server.close();
  });
  const handlerFor = (driver: HypervisorDriver, prefixes = [relay.prefix]) => {
    logger = recordingLogger();
    sessions = new ConsoleSessions({ relayPrefixes: prefixes, logger });
    return createRequestHandler(driver, { consoles: sessions });
  };

  it('answers once the console and the tunnel are open, and splices them both ways; the session log counts the bytes', async () => {
    const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: vnc.port, tlsPort: null })));
    const id = nextId();
    await expect(handle(connect(vnc.port, relay.urlFor(id)), context())).resolves.toEqual({ connected: true });
    const tunnel = await relay.tunnel(id);
    await tunnel.waitFor(/^RFB 003\.008\n$/);
    tunnel.send('RFB 003.008\n');
    await waitFor(() => vnc.received().toString().endsWith('RFB 003.008\n'), 5_000, 'the client version at the console');
    tunnel.socket.close(1000);
    await waitFor(() => logger.entries.some((e) => e.message === 'console session closed'), 5_000, 'the session to end');
    expect(logger.entries.find((e) => e.message === 'console session closed')!.data).toMatchObject({
      requestId: 'req-console-connect', serverId: server.id, protocol: 'vnc', bytesToRelay: 12, bytesFromRelay: 12, durationMs: expect.any(Number),
    });
    expect(sessions.open).toBe(0);
  });

  it('bytes the relay sends right behind the 101 (a browser\'s early input), while the console is still being reached, reach the console', async () => {
    const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: vnc.port, tlsPort: null })));
    const before = vnc.received().length;
    relay.sendOnAccept('RFB 003.008\n');
    const id = nextId();
    await expect(handle(connect(vnc.port, relay.urlFor(id)), context())).resolves.toEqual({ connected: true });
    await (await relay.tunnel(id)).waitFor(/^RFB 003\.008\n$/);
    await waitFor(() => vnc.received().subarray(before).toString() === 'RFB 003.008\n', 5_000, 'the early client version at the console');
  });

  it('a wildcard listen address is reached on loopback; no listen address is the hypervisor default, loopback', async () => {
    for (const address of ['0.0.0.0', undefined]) {
      const handle = handlerFor(driverWith(() => ({ address, port: vnc.port, tlsPort: null })));
      const id = nextId();
      await handle(connect(vnc.port, relay.urlFor(id)), context());
      await (await relay.tunnel(id)).waitFor(/RFB 003\.008/);
      await sessions.stop();
    }
  });

  it('refuses a port that is no longer the server\'s console (Nova\'s validate_console_port), dialling nothing', async () => {
    const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: vnc.port, tlsPort: null })));
    const id = nextId();
    const failure = await handle(connect(vnc.port + 1, relay.urlFor(id)), context()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'NoConsole', message: expect.stringMatching(/no longer this server's/) });
    expect((failure as Error).message).not.toMatch(/\d{4,5}|127\.0\.0\.1/);
    expect(relay.dialled()).not.toContain(id);
  });

  it('refuses a server with no console of that protocol as NoConsole, and a driver without remote consoles as NotImplemented', async () => {
    const none = await handlerFor(driverWith(() => undefined))(connect(5900, relay.urlFor(nextId()), 'spice'), context()).catch((e: unknown) => e);
    expect(none).toMatchObject({ code: 'NoConsole', message: 'This server has no SPICE console now.' });
    const { consoleEndpoint: _, ...without } = driverWith(() => undefined);
    const unable = await handlerFor(without)(connect(5900, relay.urlFor(nextId())), context()).catch((e: unknown) => e);
    expect(unable).toMatchObject({ code: 'NotImplemented' });
  });

  it('refuses a tunnel URL outside the relay prefixes as Forbidden, before asking the hypervisor; with no prefixes every console.connect is refused', async () => {
    const driver = driverWith(() => ({ address: '127.0.0.1', port: vnc.port, tlsPort: null }));
    const host = new URL(relay.prefix).host;
    for (const url of [`ws://${host}/elsewhere/x`, `ws://${host}.attacker.example/tunnel/x`, `ws://evil@${host}/tunnel/x`, `ws://${host}/tunnel/../elsewhere/x`, relay.prefix]) {
      const failure = await handlerFor(driver)(connect(vnc.port, url), context()).catch((e: unknown) => e);
      expect(failure, url).toMatchObject({ code: 'Forbidden', message: 'The compute host does not dial this console relay.' });
    }
    const refused = await createRequestHandler(driver)(connect(vnc.port, relay.urlFor(nextId())), context()).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'Forbidden', detail: expect.stringMatching(/none: remote consoles refused/) });
    expect(driver.asked).toEqual([]);
  });

  it('never connects to an address that is not this host\'s, whatever the hypervisor says', async () => {
    const handle = handlerFor(driverWith(() => ({ address: '192.0.2.10', port: vnc.port, tlsPort: null })));
    const id = nextId();
    const failure = await handle(connect(vnc.port, relay.urlFor(id)), context()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'Internal', detail: expect.stringMatching(/neither loopback nor an address of this host/) });
    expect(relay.dialled()).not.toContain(id);
  });

  it('a relay that refuses the tunnel (expired id) fails the request, leaving no console connection open', async () => {
    const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: vnc.port, tlsPort: null })));
    relay.refuseWith(401);
    const before = vnc.clients.filter((c) => !c.destroyed).length;
    const failure = await handle(connect(vnc.port, relay.urlFor(nextId())), context()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'Internal', detail: 'tunnel dial answered HTTP 401' });
    await waitFor(() => vnc.clients.filter((c) => !c.destroyed).length <= before, 5_000, 'no console connection left');
    expect(sessions.open).toBe(0);
  });

  it('an unreachable console fails the request and closes the tunnel it dialled', async () => {
    const closedPort = await startConsole().then(async (c) => {
      c.server.close();
      await once(c.server, 'close');
      return c.port;
    });
    const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: closedPort, tlsPort: null })));
    const id = nextId();
    const failure = await handle(connect(closedPort, relay.urlFor(id)), context()).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'Internal', message: 'The console of this server is not reachable on its host.' });
    if (relay.dialled().includes(id)) await (await relay.tunnel(id)).closed;
  });

  it('the console closing closes the tunnel (1000); the agent stopping closes it as going away (1001)', async () => {
    const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: vnc.port, tlsPort: null })));
    const first = nextId();
    await handle(connect(vnc.port, relay.urlFor(first)), context());
    const t1 = await relay.tunnel(first);
    await t1.waitFor(/RFB/);
    vnc.clients.at(-1)!.end();
    expect(await t1.closed).toBe(1000);

    const second = nextId();
    await handle(connect(vnc.port, relay.urlFor(second)), context());
    const t2 = await relay.tunnel(second);
    await sessions.stop();
    expect(await t2.closed).toBe(1001);
    expect(sessions.open).toBe(0);
  });

  it('a relay that stops reading pauses the console (bounded agent buffers), and everything arrives in order once it reads again', async () => {
    const flood = await startConsole('');
    try {
      const handle = handlerFor(driverWith(() => ({ address: '127.0.0.1', port: flood.port, tlsPort: null })));
      const id = nextId();
      await handle(connect(flood.port, relay.urlFor(id)), context());
      const tunnel = await relay.tunnel(id);
      tunnel.stopReading();
      const console = flood.clients.at(-1)!;
      // 64 MiB of numbered 16-byte lines: far more than every buffer on the way.
      const total = 64 * 1024 * 1024;
      const line = (i: number) => `${String(i).padStart(15, '0')}\n`;
      let written = 0;
      const writeMore = () => {
        while (written < total) {
          const chunk = Buffer.from(Array.from({ length: 4096 }, (_, k) => line(written / 16 + k)).join(''));
          written += chunk.length;
          if (!console.write(chunk)) return;
        }
      };
      console.on('drain', writeMore);
      writeMore();
      // The agent stops reading: the console's own socket fills up and stays full.
      let previous = -1;
      await waitFor(async () => {
        const now = written;
        await sleep(500);
        const still = now === written && now === previous;
        previous = written;
        return still;
      }, 20_000, 'the console to be held back');
      expect(written).toBeLessThan(total);
      // What the agent took and has not sent is bounded by its high-water mark plus kernel buffers.
      const resident = process.memoryUsage().arrayBuffers;
      expect(resident).toBeLessThan(HIGH_WATER * 64);
      tunnel.resumeReading();
      await waitFor(() => tunnel.received().length >= 4 * 1024 * 1024 - 16 || written >= total, 60_000, 'the flood to flow again');
      const text = tunnel.received().toString('latin1');
      const lines = text.split('\n').slice(1, -1);
      for (let i = 1; i < lines.length; i++) expect(Number(lines[i])).toBe(Number(lines[i - 1]) + 1);
    } finally {
      for (const c of flood.clients) c.destroy();
      flood.server.close();
    }
  }, 90_000);
});
