import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const CHUNK = 64 * 1024;

export interface SqsCallCounts {
  /** API calls by action (X-Amz-Target without the service prefix). */
  calls: Record<string, number>;
  /** SQS bills every 64 KB chunk of a request's payload as one request. */
  billedChunks: number;
}

/**
 * A pass-through HTTP proxy in front of the SQS emulator that counts what AWS would bill: every
 * API call, and its payload in 64 KB chunks (request body for sends, response body for receives).
 */
export async function startCountingProxy(target: string) {
  const upstream = new URL(target);
  let counts: SqsCallCounts = { calls: {}, billedChunks: 0 };
  const server = createServer((req, res) => {
    const action = String(req.headers['x-amz-target'] ?? 'unknown').replace(/^AmazonSQS\./, '');
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      const sent = Buffer.concat(body);
      const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        const back: Buffer[] = [];
        up.on('data', (c: Buffer) => back.push(c));
        up.on('end', () => {
          const received = Buffer.concat(back);
          counts.calls[action] = (counts.calls[action] ?? 0) + 1;
          counts.billedChunks += Math.max(1, Math.ceil(Math.max(sent.length, received.length) / CHUNK));
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(received);
        });
      });
      out.on('error', () => res.writeHead(502).end());
      out.end(sent);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    reset() {
      counts = { calls: {}, billedChunks: 0 };
    },
    snapshot(): SqsCallCounts {
      return structuredClone(counts);
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
