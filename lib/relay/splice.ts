import { WebSocket, type RawData } from 'ws';

/** Above this many bytes queued towards one side, the other side is paused until it drains. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
/** Keeps load balancers (ALB: 60 s idle by default) from cutting a quiet console. */
const PING_EVERY_MS = 30_000;

export interface SpliceStats {
  /** Bytes from the browser to the console, and from the console to the browser. */
  bytesIn: number;
  bytesOut: number;
  closedBy: 'browser' | 'agent' | 'idle';
}

function asBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/**
 * Join a browser socket and an agent's tunnel socket: every message either way is forwarded as one
 * binary frame (so each chunk the console wrote reaches the browser as its own frame, as
 * websockify does, and a client's text frames reach the console as their UTF-8 bytes). Either side
 * closing closes the other; a session with no byte either way for `idleTimeoutMs` is closed. A slow
 * reader pauses the sender (TCP backpressure) instead of growing the relay's memory.
 */
export function splice(browser: WebSocket, agent: WebSocket, early: readonly Buffer[], options: { idleTimeoutMs: number; onClose(stats: SpliceStats): void }): void {
  const stats: SpliceStats = { bytesIn: 0, bytesOut: 0, closedBy: 'browser' };
  let done = false;
  const idle = setTimeout(() => finish('idle'), options.idleTimeoutMs);
  const ping = setInterval(() => {
    for (const ws of [browser, agent]) if (ws.readyState === WebSocket.OPEN) ws.ping();
  }, PING_EVERY_MS);
  ping.unref();

  const forward = (from: WebSocket, to: WebSocket, data: Buffer) => {
    if (to.readyState !== WebSocket.OPEN) return;
    idle.refresh();
    to.send(data, { binary: true }, () => {
      if (from.isPaused && to.bufferedAmount < LOW_WATER) from.resume();
    });
    if (to.bufferedAmount > HIGH_WATER) from.pause();
  };

  function finish(by: SpliceStats['closedBy']): void {
    if (done) return;
    done = true;
    stats.closedBy = by;
    clearTimeout(idle);
    clearInterval(ping);
    // websockify's words when the console side ends; a plain close otherwise.
    if (browser.readyState === WebSocket.OPEN) browser.close(1000, by === 'agent' ? 'Target closed' : by === 'idle' ? 'Idle timeout' : undefined);
    if (agent.readyState === WebSocket.OPEN) agent.close(1000);
    // A peer that never answers the close handshake is cut off rather than held for ws's 30 s.
    setTimeout(() => { browser.terminate(); agent.terminate(); }, 2_000).unref();
    options.onClose(stats);
  }

  for (const chunk of early) {
    stats.bytesIn += chunk.length;
    forward(browser, agent, chunk);
  }
  browser.on('message', (data) => {
    const chunk = asBuffer(data);
    stats.bytesIn += chunk.length;
    forward(browser, agent, chunk);
  });
  agent.on('message', (data) => {
    const chunk = asBuffer(data);
    stats.bytesOut += chunk.length;
    forward(agent, browser, chunk);
  });
  browser.on('close', () => finish('browser'));
  agent.on('close', () => finish('agent'));
  if (browser.readyState !== WebSocket.OPEN) finish('browser');
  else if (agent.readyState !== WebSocket.OPEN) finish('agent');
}
