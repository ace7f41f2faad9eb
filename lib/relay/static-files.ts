import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';

/** One URL prefix served from one directory (or one file when the prefix is a file name). */
export interface StaticMount {
  /** `/vnc_lite.html` (a file) or `/novnc/` (a directory, trailing slash). */
  prefix: string;
  path: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'X-Content-Type-Options': 'nosniff', ...headers });
  res.end(text);
}

/**
 * The relay's pages and the browser clients' files, read-only: GET and HEAD only, files only (a
 * directory is a 404, never a listing, as Nova's file_only proxies), confined to the mounted
 * directories by their real path (no `..`, no encoded separator, no symlink out), and a path
 * starting with `//` is a 400 (Nova's open-redirect fix: browsers read `//host` as another site).
 */
export async function serveStatic(mounts: readonly StaticMount[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'Method Not Allowed\n', { Allow: 'GET, HEAD' });
  const raw = req.url ?? '/';
  if (raw.startsWith('//')) return plain(res, 400, 'URI must not start with //\n');
  const rawPath = raw.split(/[?#]/)[0]!;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return plain(res, 400, 'Bad Request\n');
  }
  if (path.includes('\0') || path.includes('\\') || path.split('/').some((segment) => segment === '..' || segment === '.')) return plain(res, 404, 'Not Found\n');
  const mount = mounts.find((m) => (m.prefix.endsWith('/') ? path.startsWith(m.prefix) && path.length > m.prefix.length : path === m.prefix));
  if (!mount) return plain(res, 404, 'Not Found\n');
  const file = mount.prefix.endsWith('/') ? join(mount.path, path.slice(mount.prefix.length)) : mount.path;
  let real: string;
  try {
    real = await realpath(file);
    const root = await realpath(mount.path);
    if (real !== root && !real.startsWith(root + sep)) return plain(res, 404, 'Not Found\n');
    const info = await stat(real);
    if (!info.isFile()) return plain(res, 404, 'Not Found\n');
    res.writeHead(200, {
      'Content-Type': TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-cache',
    });
  } catch {
    return plain(res, 404, 'Not Found\n');
  }
  if (req.method === 'HEAD') return void res.end();
  createReadStream(real).on('error', () => res.destroy()).pipe(res);
}
