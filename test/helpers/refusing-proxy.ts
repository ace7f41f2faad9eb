import { request as httpRequest, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RefusingProxy {
  endpoint: string;
  /** While true, every request's connection is dropped before an answer: the service is down. */
  down: boolean;
  /** Requests dropped so far. */
  refused: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of fauxqs that can play one of its services down: point only that
 * service's client (SNS, S3) at it, and the others keep working on the same emulator.
 */
export async function startRefusingProxy(upstream: string): Promise<RefusingProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const proxy: RefusingProxy = { endpoint: '', down: false, refused: 0, close: async () => undefined };
  const server = createServer((req, res) => {
    if (proxy.down) {
      proxy.refused += 1;
      req.socket.destroy();
      return;
    }
    const forward = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
