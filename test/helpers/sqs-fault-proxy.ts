import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface SqsFaultProxy {
  endpoint: string;
  /** SQS actions (`SendMessage`, `ReceiveMessage`, ...) whose next calls are swallowed: connected, never answered. */
  swallow: Set<string>;
  /** How many calls were swallowed so far. */
  swallowed: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of fauxqs that can leave chosen SQS calls unanswered: the failure a
 * connection refused cannot show (a dead connection, a frozen environment's socket, a stuck
 * load balancer). Without `upstream` it answers nothing at all.
 */
export async function startSqsFaultProxy(upstream?: string): Promise<SqsFaultProxy> {
  const sockets = new Set<Socket>();
  const proxy: SqsFaultProxy = { endpoint: '', swallow: new Set(), swallowed: 0, close: async () => undefined };
  const target = upstream ? new URL(upstream) : undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const action = String(req.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    if (!target || proxy.swallow.has(action)) {
      proxy.swallowed += 1;
      req.resume();
      return;
    }
    // fauxqs builds queue URLs from the Host header: keep them naming fauxqs, as agents see them.
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
