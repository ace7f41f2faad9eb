import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** The desktop name the test RFB server announces in its ServerInit. */
export const RFB_DESKTOP_NAME = 'vmconsole-test-desktop';

export interface TcpEndpoint {
  port: number;
  /** Every connection accepted so far. */
  connections: number;
  stop(): Promise<void>;
}

async function listen(server: Server, track: Set<Socket>): Promise<TcpEndpoint> {
  server.on('connection', (socket) => {
    track.add(socket);
    socket.on('close', () => track.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const endpoint: TcpEndpoint = {
    port: (server.address() as AddressInfo).port,
    connections: 0,
    stop: async () => {
      for (const socket of track) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', () => endpoint.connections++);
  return endpoint;
}

/**
 * A VNC server's first messages, RFB 3.8 as QEMU speaks them with no authentication: each message
 * is written only after the client's previous one arrived, so each is its own TCP chunk, as from a
 * real server: ProtocolVersion, the security types [None], SecurityResult OK, then ServerInit
 * (640x480, 32 bpp, the desktop name) after the client's ClientInit.
 */
export async function startRfbServer(): Promise<TcpEndpoint> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    let stage = 0;
    let pending = Buffer.alloc(0);
    socket.setNoDelay(true);
    socket.write('RFB 003.008\n');
    socket.on('data', (data) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        const need = stage === 0 ? 12 : 1;
        if (stage > 2 || pending.length < need) return;
        pending = pending.subarray(need);
        if (stage === 0) socket.write(Buffer.from([1, 1]));
        else if (stage === 1) socket.write(Buffer.from([0, 0, 0, 0]));
        else socket.write(serverInit());
        stage++;
      }
    });
  });
  return listen(server, sockets);
}

function serverInit(): Buffer {
  const name = Buffer.from(RFB_DESKTOP_NAME);
  const head = Buffer.alloc(24);
  head.writeUInt16BE(640, 0);
  head.writeUInt16BE(480, 2);
  // Pixel format: 32 bpp, depth 24, little endian, true colour, 255/255/255, shifts 16/8/0.
  Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]).copy(head, 4);
  head.writeUInt32BE(name.length, 20);
  return Buffer.concat([head, name]);
}

/** A serial line that answers every byte it is sent with the same byte (a guest echoing its input). */
export async function startEchoServer(): Promise<TcpEndpoint & { received: Buffer[] }> {
  const sockets = new Set<Socket>();
  const received: Buffer[] = [];
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (data) => {
      received.push(data);
      socket.write(data);
    });
  });
  return Object.assign(await listen(server, sockets), { received });
}
