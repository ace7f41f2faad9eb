/**
 * What the operator reads about console following (lib/agent/follow-consoles.ts), on the real
 * files driver and real files: a flooding console is logged as skipped once per period with the
 * bytes summed, never per chunk, while its consumer still gets the newest output.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { followConsoles, type ConsoleFollowing } from '../../lib/agent/follow-consoles.ts';
import { FilesDriver } from '../../lib/hypervisors/files/files-driver.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { writeNamedInstances } from '../helpers/reliability-fixture.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let dir: string;
let following: ConsoleFollowing | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmconsole-follow-consoles-'));
});
afterEach(async () => {
  await following?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('a flooding console is logged as skipped at most once per period, with the bytes summed, and its newest output still arrives', async () => {
  const [server] = await writeNamedInstances(dir, 1);
  const logger = recordingLogger();
  const driver = new FilesDriver({ instancesDir: dir, roots: [dir], logger });
  let received = 0;
  let last: { offset: number; length: number } | undefined;
  following = followConsoles({
    driver,
    roots: [dir],
    logger,
    consumerFor: () => ({ chunk: (chunk, info) => { received += chunk.length; last = { offset: info.offset, length: chunk.length }; } }),
    limits: { totalBytesPerSecond: 64 * 1024, reportEveryMs: 300 },
  });
  // The inventory's listing, through the tap, is what starts the followers.
  await following!.tap(driver).listServers();
  await waitFor(() => logger.entries.some((e) => e.message === 'following console'), 10_000, 'the follower to start');

  const log = join(dir, server!.id, 'console.log');
  let written = 0;
  // Many writes, each far over the cap: skips happen at many passes, the reports do not.
  for (let i = 0; i < 20; i++) {
    const chunk = randomBytes(256 * 1024);
    await appendFile(log, chunk);
    written += chunk.length;
    await sleep(10);
  }
  await waitFor(() => last !== undefined && last.offset + last.length === written, 15_000, 'the newest byte');
  await following!.stop();
  following = undefined;

  const skips = logger.entries.filter((e) => e.message.startsWith('console output skipped'));
  expect(skips.length).toBeGreaterThan(0);
  const summed = skips.reduce((n, e) => n + (e.data.bytes as number), 0);
  expect(received + summed).toBe(written);
  expect(skips.every((e) => e.level === 'warn' && e.data.id === server!.id)).toBe(true);
  // Once per period: never more reports than periods that passed (plus the one at stop).
  const periods = skips.map((e) => e.data.sinceMs as number);
  expect(skips.length).toBeLessThanOrEqual(Math.ceil(periods.reduce((a, b) => a + b, 0) / 300) + 1);
});
