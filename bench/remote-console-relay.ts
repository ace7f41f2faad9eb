import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WebSocket } from 'ws';
import { consoleKey } from '../test/helpers/console-host-stand-in.ts';
import { startConsoleRelayRig } from '../test/helpers/console-relay-stack.ts';
import { summarize, type Summary } from './stats.ts';

export interface RemoteConsoleBench {
  /** From the API call (token minted after the host named the port) to the first RFB bytes in the browser-side socket. */
  setupMs: Summary;
  /** One byte typed, its echo back, through relay + tunnel + a TCP serial line. */
  echoMs: Summary;
  /** VNC-like bulk output (64 KiB writes) through the tunnel to the browser socket. */
  mibPerSecond: number;
  /**
   * JS heap + external memory per open (idle) serial session, 200 sessions, after full GCs: the
   * relay's and the browser/agent test sockets' together (all in this process), so an upper bound.
   * RSS is no use here: fauxqs and dynalite share the process.
   */
  relayKiBPerSession: number;
}

/** A console that writes `bytes` as fast as TCP takes them, in 64 KiB chunks, once connected. */
async function startBlaster(bytes: number): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    let sent = 0;
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function socketOf(url: string): Promise<{ ws: WebSocket; first: Promise<Buffer> }> {
  const ws = new WebSocket(url, ['binary'], { perMessageDeflate: false });
  const first = new Promise<Buffer>((resolve, reject) => {
    ws.once('message', (data) => resolve(data as Buffer));
    ws.once('close', () => reject(new Error('closed before any byte')));
  });
  first.catch(() => undefined);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, first }));
    ws.once('error', reject);
  });
}

/**
 * Issue 12's figures on the local path (fauxqs, dynalite, the relay in this process, the console
 * host stand-in answering on its real host queue and dialling the real tunnel): setup, serial echo,
 * bulk throughput and relay memory per session. The agent's own share (its QEMU connection, the
 * serial hub) is measured once the agent serves consoles.
 */
export async function benchRemoteConsole(options: { sessions?: number; echoes?: number; bulkMiB?: number } = {}): Promise<RemoteConsoleBench> {
  const rig = await startConsoleRelayRig({
    relayEnv: { VMCONSOLE_RELAY_MAX_SESSIONS_PER_SERVER: '1000', VMCONSOLE_RELAY_MAX_SESSIONS_PER_PROJECT: '1000', VMCONSOLE_RELAY_MAX_FRAME_BYTES: String(1024 * 1024) },
  });
  const bulkBytes = (options.bulkMiB ?? 64) * 1024 * 1024;
  const blaster = await startBlaster(bulkBytes);
  try {
    const { vm, peer } = rig.servers;
    const urlOf = async (protocol: 'vnc' | 'serial', serverId = vm.id) => {
      const type = protocol === 'vnc' ? 'novnc' : 'serial';
      const { status, json } = await rig.remoteConsole(serverId, { remote_console: { protocol, type } });
      if (status !== 200) throw new Error(`remote-consoles answered ${status}: ${JSON.stringify(json)}`);
      const url = new URL(json.remote_console.url as string);
      return protocol === 'vnc' ? `${rig.relay.addresses.novnc.replace('http', 'ws')}/${url.searchParams.get('path')}` : url.href;
    };

    const setups: number[] = [];
    for (let i = 0; i < (options.sessions ?? 50); i++) {
      const t0 = performance.now();
      const { ws, first } = await socketOf(await urlOf('vnc'));
      await first;
      setups.push(performance.now() - t0);
      ws.close();
    }

    const echoes: number[] = [];
    {
      const { ws } = await socketOf(await urlOf('serial'));
      for (let i = 0; i < (options.echoes ?? 500); i++) {
        const t0 = performance.now();
        const echoed = once(ws, 'message');
        ws.send(Buffer.from([0x61 + (i % 26)]));
        await echoed;
        echoes.push(performance.now() - t0);
      }
      ws.close();
    }

    rig.host.consoles.set(consoleKey(peer.id, 'vnc'), { port: blaster.port });
    let mibPerSecond: number;
    {
      const { ws } = await socketOf(await urlOf('vnc', peer.id));
      let received = 0;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        ws.on('message', (data) => {
          received += (data as Buffer).length;
          if (received >= bulkBytes) resolve();
        });
        ws.once('close', () => resolve());
      });
      mibPerSecond = received / 1024 / 1024 / ((performance.now() - t0) / 1000);
      ws.close();
    }

    const count = 200;
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = () => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.external; };
    const before = used();
    const open: WebSocket[] = [];
    for (let i = 0; i < count; i++) {
      const { ws } = await socketOf(await urlOf('serial'));
      open.push(ws);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const relayKiBPerSession = (used() - before) / 1024 / count;
    for (const ws of open) ws.close();

    return { setupMs: summarize(setups), echoMs: summarize(echoes), mibPerSecond, relayKiBPerSession };
  } finally {
    await blaster.stop();
    await rig.stop();
  }
}
