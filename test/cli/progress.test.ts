import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatBytes, startProgress } from '../../lib/cli/progress.ts';

/** A stream that says it is a terminal, as process.stderr does on one (the real terminal is in commands-on-local-stack.test.ts). */
function terminal(): { stream: NodeJS.WritableStream; text: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY: true });
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { stream, text: () => chunks.join('') };
}

describe('progress line for long downloads (lib/cli/progress.ts)', () => {
  it('draws at the first bytes, then at most every interval, and erases itself when done', async () => {
    let now = 0;
    const t = terminal();
    const progress = startProgress(t.stream, { label: 'console of web-1', total: 4 * 1024 * 1024, now: () => now, intervalMs: 100 });
    progress.advance(1024 * 1024);
    now = 50;
    progress.advance(1024 * 1024); // within the interval: not drawn
    now = 1000;
    progress.advance(1024 * 1024);
    progress.done();
    progress.done();
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.text()).toBe([
      '\rconsole of web-1  1.0 MiB / 4.0 MiB  25%  1000 MiB/s\x1b[K',
      '\rconsole of web-1  3.0 MiB / 4.0 MiB  75%  3.0 MiB/s\x1b[K',
      '\r\x1b[K',
    ].join(''));
  });

  it('nothing at all on a pipe or a file, or with --json', async () => {
    const pipe = new PassThrough();
    let written = '';
    pipe.on('data', (c: Buffer) => (written += c.toString()));
    const tty = terminal();
    for (const [stream, json] of [[pipe, false], [tty.stream, true]] as const) {
      const progress = startProgress(stream, { label: 'x', json });
      progress.advance(10);
      progress.done();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toBe('');
    expect(tty.text()).toBe('');
  });

  it('sizes read as people read them', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024 * 1024, 5 * 1024 ** 4].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 MiB', '5.0 TiB']);
  });
});
