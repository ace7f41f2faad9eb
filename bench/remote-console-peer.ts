/**
 * The far ends of remote-console sessions, in a process of their own so the bench process holds
 * only the agent's side: the relay's tunnel path (a `ws` server that reads everything) and a VNC
 * server stand-in (greets like QEMU, then sends FLOOD_BYTES as fast as the agent takes them when
 * FLOOD_BYTES is set). Prints JSON lines: `ready` with its ports, `tunnel-closed` per tunnel with
 * what it received and when.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const flood = Number(process.env.FLOOD_BYTES ?? 0);
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const tunnels = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1024 * 1024 });
await once(tunnels, 'listening');
tunnels.on('connection', (ws, req) => {
  const id = req.url ?? '';
  let bytes = 0;
  let first = 0;
  ws.on('message', (data: Buffer) => {
    if (first === 0) first = performance.now();
    bytes += data.length;
  });
  ws.on('close', () => say({ event: 'tunnel-closed', id, bytes, ms: performance.now() - first }));
});

const chunk = Buffer.alloc(64 * 1024, 0x5a);
const vnc = createServer((socket) => {
  socket.on('error', () => undefined);
  socket.write('RFB 003.008\n');
  if (flood <= 0) return;
  let sent = 0;
  const more = () => {
    while (sent < flood) {
      sent += chunk.length;
      if (!socket.write(chunk)) return;
    }
    socket.end();
  };
  socket.on('drain', more);
  more();
});
vnc.listen(0, '127.0.0.1');
await once(vnc, 'listening');
say({ event: 'ready', tunnelPort: (tunnels.address() as AddressInfo).port, vncPort: (vnc.address() as AddressInfo).port });
