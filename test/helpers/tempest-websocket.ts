import { connect, type Socket } from 'node:net';

/**
 * tempest's `_WebSocket` (tempest/common/compute.py), re-implemented byte for byte: the request it
 * sends (the path from the URL's `path` parameter, else `websockify`; the URL's whole query as the
 * Cookie; a fixed key; `Sec-WebSocket-Protocol: binary`; no Origin), and its deliberately naive
 * frame reader (2 header bytes, empty frames skipped, a 7-bit length, no mask). A relay that passes
 * these passes tempest's noVNC tests.
 */
export class TempestWebSocket {
  readonly #socket: Socket;
  #buffer = Buffer.alloc(0);
  #ended = false;
  #waiters: Array<() => void> = [];
  /** The response head as received (status line and headers). */
  response = '';

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (data) => { this.#buffer = Buffer.concat([this.#buffer, data]); this.#wake(); });
    socket.on('end', () => { this.#ended = true; this.#wake(); });
    socket.on('close', () => { this.#ended = true; this.#wake(); });
    socket.on('error', () => { this.#ended = true; this.#wake(); });
  }

  /** tempest's create_websocket(url); `extraHeaders` for the tests tempest does not have (Origin, Host). */
  static async open(url: string, options: { extraHeaders?: Record<string, string>; host?: string; path?: string; cookie?: string } = {}): Promise<TempestWebSocket> {
    const parsed = new URL(url);
    const query = parsed.search.replace(/^\?/, '');
    const path = options.path ?? new URLSearchParams(query).get('path') ?? 'websockify';
    const socket = connect({ host: parsed.hostname, port: Number(parsed.port) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const ws = new TempestWebSocket(socket);
    const lines = [
      `GET /${path.replace(/^\//, '')} HTTP/1.1`,
      `Host: ${options.host ?? parsed.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Cookie: ${options.cookie ?? query}`,
      'Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: binary',
      ...Object.entries(options.extraHeaders ?? {}).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    await ws.#until(() => ws.#buffer.includes('\r\n\r\n') || ws.#ended);
    const end = ws.#buffer.indexOf('\r\n\r\n');
    if (end >= 0) {
      ws.response = ws.#buffer.subarray(0, end + 4).toString('latin1');
      ws.#buffer = ws.#buffer.subarray(end + 4);
    }
    return ws;
  }

  /** tempest's validate_websocket_upgrade. */
  get upgraded(): boolean {
    return this.response.startsWith('HTTP/1.1 101 Switching Protocols') && this.response.toLowerCase().includes('upgrade: websocket');
  }

  /** tempest's receive_frame: the next non-empty frame's payload, or null when the socket ended. */
  async receiveFrame(): Promise<Buffer | null> {
    for (;;) {
      const header = await this.#read(2);
      if (header.length < 2) return null;
      const length = header[1]! & 127;
      if (length > 0) return this.#read(length);
    }
  }

  /** tempest's send_frame: FIN + binary, masked with [7, 2, 1, 9], length < 126. */
  sendFrame(data: Buffer | number[]): void {
    const payload = Buffer.from(data);
    const mask = Buffer.from([7, 2, 1, 9]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    this.#socket.write(Buffer.concat([Buffer.from([130, payload.length | 128]), mask, masked]));
  }

  /** Every byte that arrives until the server ends the connection (for "no payload at all"). */
  async drain(timeoutMs: number): Promise<{ bytes: Buffer; ended: boolean }> {
    const ended = await Promise.race([this.#until(() => this.#ended).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs))]);
    const bytes = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return { bytes, ended };
  }

  get ended(): boolean {
    return this.#ended;
  }

  close(): void {
    this.#socket.destroy();
  }

  async #read(n: number): Promise<Buffer> {
    await this.#until(() => this.#buffer.length >= n || this.#ended);
    const out = this.#buffer.subarray(0, Math.min(n, this.#buffer.length));
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }

  #until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const check = () => (condition() ? resolve() : this.#waiters.push(check));
      this.#waiters.push(check);
    });
  }

  #wake(): void {
    const waiters = this.#waiters.splice(0);
    for (const w of waiters) w();
  }
}

/** tempest's validate_rfb_negotiation for RFB 3.8, step by step; returns the ServerInit frame. */
export async function rfbNegotiation(ws: TempestWebSocket): Promise<Buffer> {
  const version = await ws.receiveFrame();
  if (!version) throw new Error('no ProtocolVersion frame');
  const v = Number(`${Number(version.subarray(4, 7).toString())}.${Number(version.subarray(8, 11).toString())}`);
  if (v !== 3.8) throw new Error(`RFB version ${v}`);
  ws.sendFrame(version);
  const types = await ws.receiveFrame();
  if (!types || types.length < 2 || ![...types.subarray(1, 1 + types[0]!)].includes(1)) throw new Error(`security types frame ${types?.toString('hex')}`);
  ws.sendFrame([1]);
  const result = await ws.receiveFrame();
  if (!result || result.length !== 4 || !result.equals(Buffer.alloc(4))) throw new Error(`SecurityResult frame ${result?.toString('hex')}`);
  ws.sendFrame([1]);
  const init = await ws.receiveFrame();
  if (!init || !(init.length > 24 && init.length === init.readUInt32BE(20) + 24)) throw new Error(`ServerInit frame ${init?.toString('hex')}`);
  return init;
}
