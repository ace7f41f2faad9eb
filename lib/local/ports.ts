import { once } from 'node:events';
import { createServer } from 'node:net';
import { describeProcess, portListeners } from './processes.ts';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Who holds `port`, in words: "pid 123 (node ...)", or why we cannot tell. */
export function describePortHolder(port: number): string {
  const holders = portListeners(port);
  return holders.length > 0 ? holders.map(describeProcess).join(', ') : 'a process this user cannot see (another user\'s, or in another network namespace)';
}

/**
 * Refuse a port that something already listens on, at once and naming the holder: left to
 * serverless-offline, a busy port shows only as a stack trace in its log after the start times out.
 */
export async function assertPortFree(port: number): Promise<void> {
  const server = createServer();
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new Error(`port ${port} is already in use by ${describePortHolder(port)}; stop it or choose another port (--port N, or PORT=N)`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}
