/**
 * The CLI's --timeout is about silence, not length: a slow but steady download (a big history, a
 * screenshot over a thin link) is never cut; an API that stops answering, before its headers or in
 * the middle of the body, is exit 7 once it has been silent that long. A network this slow cannot
 * be made with the local stack, so a small HTTP server here sends a real PNG at a chosen pace.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshotToPng } from '../../lib/console/screenshot-png.ts';
import { runCli } from '../helpers/cli-process.ts';

const SERVER = { id: '5d1f9c2e-7a3b-4c8d-9e0f-112233445566', name: 'slow-1' };
// A real PNG (the agent's own encoder), large enough to send in pieces.
const PNG = screenshotToPng(Buffer.concat([Buffer.from('P6\n64 48\n255\n'), Buffer.alloc(64 * 48 * 3, 7)]));

type Pace = 'steady' | 'stall-mid-body' | 'no-headers';

describe('CLI --timeout: an idle timeout, not a length limit', () => {
  let api: Server;
  let base: string;
  let pace: Pace = 'steady';
  const scratch = mkdtempSync(join(tmpdir(), 'vmconsole-cli-timeouts-'));

  beforeAll(async () => {
    api = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://api');
      if (url.pathname === `/v2.1/servers/${SERVER.id}`) return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ server: SERVER }));
      if (url.pathname !== `/vmconsole/v1/servers/${SERVER.id}/screenshot`) return void res.writeHead(404).end();
      if (pace === 'no-headers') return undefined;
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(PNG.length) });
      trickle(res, pace);
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    api.closeAllConnections();
    await new Promise<void>((resolve) => api.close(() => resolve()));
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Six pieces 400 ms apart (2 s in all, twice the 1 s timeout); or the first and then nothing. */
  function trickle(res: ServerResponse, how: Pace): void {
    const pieces = 6;
    const size = Math.ceil(PNG.length / pieces);
    let sent = 0;
    const next = () => {
      res.write(PNG.subarray(sent * size, (sent + 1) * size));
      sent += 1;
      if (sent === pieces) return void res.end();
      if (how === 'stall-mid-body') return;
      setTimeout(next, 400);
    };
    next();
  }

  const shot = (file: string) => runCli(['screenshot', SERVER.id, '-o', join(scratch, file), '--timeout', '1'], { env: { VMCONSOLE_URL: base, VMCONSOLE_TOKEN: 't' } });

  it('a download slower than the timeout but never silent for it completes', async () => {
    pace = 'steady';
    const started = Date.now();
    const run = await shot('steady.png');
    expect(run.code, run.stderr).toBe(0);
    expect(Date.now() - started).toBeGreaterThan(1_900);
    expect(readFileSync(join(scratch, 'steady.png'))).toEqual(PNG);
  });

  it('silence mid-body, or before the headers: exit 7 after the timeout, and no file', async () => {
    for (const how of ['stall-mid-body', 'no-headers'] as const) {
      pace = how;
      const run = await shot(`${how}.png`);
      expect(run.code, how).toBe(7);
      expect(run.stderr).toBe(`vmconsole: ${base} did not answer within 1 s\n`);
      expect(() => readFileSync(join(scratch, `${how}.png`))).toThrow();
    }
  });
});
