/**
 * Remote consoles, the agent's side (lib/agent/console-sessions.ts, lib/console/serial-hub.ts):
 *
 * - Serial keystroke echo round trip through the tunnel: a byte sent by the relay's side of the
 *   tunnel, through the agent and the serial hub to the chardev, and the echo back. Against a
 *   real guest shell (QEMU under TCG, libvirt, busybox on ttyS0: the tty echoes each keystroke)
 *   when libvirt is here, and against a loopback echo chardev (the agent and tunnel alone).
 * - VNC bytes/s through the tunnel: a VNC server stand-in sending as fast as the agent takes it
 *   (in another process, with the relay's tunnel path), so the bench process is the agent's side.
 * - Agent memory per open session: idle VNC sessions, heap and RSS after a GC, per session.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConsoleSessions } from '../lib/agent/console-sessions.ts';
import type { Logger } from '../lib/logger.ts';
import { freePort } from '../lib/local/ports.ts';
import { SHELL_READY } from '../test/harness/busybox-initramfs.ts';
import { libvirtUnavailableReason, startLibvirt } from '../test/harness/libvirt.ts';
import { summarize } from './stats.ts';

export interface EchoRow {
  path: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}
export interface RemoteConsolesBench {
  echo: EchoRow[];
  /** Why the real-guest row is missing, when it is. */
  guestSkipped?: string;
  vnc: { mib: number; seconds: number; mibPerSecond: number; agentCpuMsPerMiB: number };
  memory: { sessions: number; heapKiBPerSession: number; externalKiBPerSession: number; rssKiBPerSession: number };
}

const ECHO_SAMPLES = 300;
const VNC_BYTES = 256 * 1024 * 1024;
const MEMORY_SESSIONS = 200;
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export async function benchRemoteConsoles(): Promise<RemoteConsolesBench> {
  const echo: EchoRow[] = [await echoThroughLoopbackChardev()];
  let guestSkipped: string | undefined = libvirtUnavailableReason();
  if (!guestSkipped) {
    try {
      echo.push(await echoThroughGuestShell());
    } catch (err) {
      guestSkipped = `real guest failed: ${(err as Error).message}`;
    }
  }
  return { echo, ...(guestSkipped && { guestSkipped }), vnc: await vncThroughput(), memory: await memoryPerSession() };
}

/** The relay's tunnel path in this process, with the next message awaited by event, not by polling. */
async function tunnelEndpoint() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(server, 'listening');
  const prefix = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/tunnel/`;
  const accepted = new Map<string, WebSocket>();
  const waiting = new Map<string, (ws: WebSocket) => void>();
  server.on('connection', (ws, req) => {
    const id = (req.url ?? '').slice('/tunnel/'.length);
    accepted.set(id, ws);
    waiting.get(id)?.(ws);
  });
  return {
    prefix,
    tunnel: (id: string) => new Promise<WebSocket>((resolve) => (accepted.has(id) ? resolve(accepted.get(id)!) : waiting.set(id, resolve))),
    close: () => {
      for (const ws of server.clients) ws.terminate();
      server.close();
    },
  };
}

/** Keystroke round trips on an open serial tunnel: one byte out, until it comes back. */
async function echoRounds(ws: WebSocket, samples: number, afterLine: RegExp): Promise<number[]> {
  let seen = '';
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer) => {
    seen += data.toString('latin1');
    wake?.();
  });
  const until = async (test: () => boolean, what: string) => {
    const deadline = Date.now() + 30_000;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within 30 s`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 1_000);
      });
    }
  };
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    // A short line at a time: the shell runs it ("not found") and prompts again before the next
    // (busybox's prompt ends in a cursor-position query, ESC [6n).
    if (i % 40 === 0) {
      seen = '';
      ws.send(Buffer.from('\n'));
      await until(() => afterLine.test(seen), 'prompt');
    }
    seen = '';
    const started = performance.now();
    ws.send(Buffer.from('x'));
    await until(() => seen.includes('x'), 'echo');
    times.push(performance.now() - started);
  }
  return times;
}

function row(path: string, times: number[]): EchoRow {
  const s = summarize(times);
  return { path, samples: s.n, p50Ms: s.p50, p99Ms: s.p99, meanMs: s.mean };
}

async function echoThroughLoopbackChardev(): Promise<EchoRow> {
  const chardev = createServer((socket) => socket.on('error', () => undefined).pipe(socket));
  chardev.listen(0, '127.0.0.1');
  await once(chardev, 'listening');
  const relay = await tunnelEndpoint();
  const sessions = new ConsoleSessions({ relayPrefixes: [relay.prefix], logger: quiet });
  try {
    const id = randomUUID();
    const port = (chardev.address() as AddressInfo).port;
    await sessions.start({ requestId: 'bench', serverId: 'bench', protocol: 'serial', host: '127.0.0.1', port, tunnelUrl: `${relay.prefix}${id}`, verify: async () => true, signal: AbortSignal.timeout(10_000) });
    return row('tunnel -> agent -> serial hub -> loopback echo chardev', await echoRounds(await relay.tunnel(id), ECHO_SAMPLES, /\n$/));
  } finally {
    await sessions.stop();
    relay.close();
    chardev.close();
  }
}

async function echoThroughGuestShell(): Promise<EchoRow> {
  const lv = await startLibvirt({ lockTimeoutMs: 180_000 });
  const relay = await tunnelEndpoint();
  const sessions = new ConsoleSessions({ relayPrefixes: [relay.prefix], logger: quiet });
  try {
    const port = await freePort();
    const log = `${lv.logDir}/bench-shell.log`;
    await lv.create(lv.domainXml({ name: 'bench-shell', console: { type: 'tcp', port, log, append: true }, initrd: await lv.shellInitrd() }));
    await lv.waitForFile(log, new RegExp(SHELL_READY), 180_000);
    const id = randomUUID();
    await sessions.start({ requestId: 'bench', serverId: 'bench', protocol: 'serial', host: '127.0.0.1', port, tunnelUrl: `${relay.prefix}${id}`, verify: async () => true, signal: AbortSignal.timeout(10_000) });
    return row('tunnel -> agent -> serial hub -> QEMU chardev -> guest tty echo (TCG)', await echoRounds(await relay.tunnel(id), ECHO_SAMPLES, /# (?:\x1b\[6n)?$/));
  } finally {
    await sessions.stop();
    relay.close();
    await lv.stop();
  }
}

/** The relay's tunnel path and a VNC stand-in in a process of their own. */
async function startPeer(floodBytes: number) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./remote-console-peer.ts', import.meta.url))], {
    env: { ...process.env, FLOOD_BYTES: String(floodBytes) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const events: Array<Record<string, unknown>> = [];
  const listeners = new Set<() => void>();
  lines.on('line', (line) => {
    events.push(JSON.parse(line) as Record<string, unknown>);
    for (const l of listeners) l();
  });
  const next = (test: (e: Record<string, unknown>) => boolean) => new Promise<Record<string, unknown>>((resolve) => {
    const check = () => {
      const found = events.find(test);
      if (found) {
        listeners.delete(check);
        resolve(found);
      }
    };
    listeners.add(check);
    check();
  });
  const ready = await next((e) => e.event === 'ready');
  return { tunnelPrefix: `ws://127.0.0.1:${ready.tunnelPort as number}/tunnel/`, vncPort: ready.vncPort as number, next, stop: () => child.kill('SIGTERM') };
}

async function vncThroughput(): Promise<RemoteConsolesBench['vnc']> {
  const peer = await startPeer(VNC_BYTES);
  const sessions = new ConsoleSessions({ relayPrefixes: [peer.tunnelPrefix], logger: quiet });
  try {
    const id = randomUUID();
    const cpu = process.cpuUsage();
    await sessions.start({ requestId: 'bench', serverId: 'bench', protocol: 'vnc', host: '127.0.0.1', port: peer.vncPort, tunnelUrl: `${peer.tunnelPrefix}${id}`, verify: async () => true, signal: AbortSignal.timeout(10_000) });
    const done = await peer.next((e) => e.event === 'tunnel-closed' && e.id === `/tunnel/${id}`);
    const used = process.cpuUsage(cpu);
    const mib = (done.bytes as number) / 2 ** 20;
    const seconds = (done.ms as number) / 1000;
    return { mib, seconds, mibPerSecond: mib / seconds, agentCpuMsPerMiB: (used.user + used.system) / 1000 / mib };
  } finally {
    await sessions.stop();
    peer.stop();
  }
}

async function memoryPerSession(): Promise<RemoteConsolesBench['memory']> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const peer = await startPeer(0);
  const sessions = new ConsoleSessions({ relayPrefixes: [peer.tunnelPrefix], logger: quiet, maxSessions: MEMORY_SESSIONS });
  const settle = async () => {
    await new Promise((r) => setTimeout(r, 200));
    gc();
    gc();
    return process.memoryUsage();
  };
  try {
    // One session first, so code loaded and buffers pooled once are not counted per session.
    await sessions.start({ requestId: 'bench', serverId: 'bench', protocol: 'vnc', host: '127.0.0.1', port: peer.vncPort, tunnelUrl: `${peer.tunnelPrefix}warm`, verify: async () => true, signal: AbortSignal.timeout(10_000) });
    const before = await settle();
    for (let i = 1; i < MEMORY_SESSIONS; i++) {
      await sessions.start({ requestId: 'bench', serverId: 'bench', protocol: 'vnc', host: '127.0.0.1', port: peer.vncPort, tunnelUrl: `${peer.tunnelPrefix}s${i}`, verify: async () => true, signal: AbortSignal.timeout(10_000) });
    }
    const after = await settle();
    const n = MEMORY_SESSIONS - 1;
    return {
      sessions: sessions.open,
      heapKiBPerSession: (after.heapUsed - before.heapUsed) / 1024 / n,
      externalKiBPerSession: (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / 1024 / n,
      rssKiBPerSession: (after.rss - before.rss) / 1024 / n,
    };
  } finally {
    await sessions.stop();
    peer.stop();
  }
}
