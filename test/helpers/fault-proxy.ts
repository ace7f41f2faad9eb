import { request as httpRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FaultProxy {
  endpoint: string;
  /** SQS actions (`SendMessage`, `ReceiveMessage`, ...) whose next calls are swallowed: connected, never answered. */
  swallow: Set<string>;
  /** How many calls were swallowed so far. */
  swallowed: number;
  /** While true, every request's connection is dropped before an answer: the service is down. */
  down: boolean;
  /** Requests dropped so far. */
  refused: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of fauxqs for the failures its services cannot show themselves: chosen SQS
 * calls left unanswered (a dead connection, a frozen environment's socket, a stuck load balancer),
 * or every connection dropped while `down` (point only the SNS or S3 client at it: that service is
 * down, the others keep working on the same emulator). Without `upstream` it answers nothing at all.
 */
export async function startFaultProxy(upstream?: string): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { endpoint: '', swallow: new Set(), swallowed: 0, down: false, refused: 0, close: async () => undefined };
  const target = upstream ? new URL(upstream) : undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (proxy.down) {
      proxy.refused += 1;
      req.socket.destroy();
      return;
    }
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
