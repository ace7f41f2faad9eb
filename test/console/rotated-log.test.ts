import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLogWindow } from '../../lib/console/read-log-window.ts';
import { hypervRotation, virtlogdRotation } from '../../lib/console/rotated-log.ts';

let root: string;
let log: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vmconsole-rotated-'));
  log = join(root, 'console.log');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const contents = async () => {
  const names = (await readdir(root)).sort();
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await readFile(join(root, n), 'utf8')] as const)));
};

describe('virtlogd naming', () => {
  it('lists the live file, then .0 (newest backup) to .N', () => {
    expect(virtlogdRotation('/l/console.log', 3).files).toEqual(['/l/console.log', '/l/console.log.0', '/l/console.log.1', '/l/console.log.2']);
    expect(virtlogdRotation('/l/c').files).toHaveLength(33);
  });

  it('a rotation shifts every backup one name older, drops the oldest and moves the live file to .0', async () => {
    const rotation = virtlogdRotation(log, 2);
    await writeFile(log, 'live');
    await writeFile(`${log}.0`, 'newer');
    await writeFile(`${log}.1`, 'oldest');
    await rotation.rotate();
    expect(await contents()).toEqual({ 'console.log.0': 'live', 'console.log.1': 'newer' });
  });

  it('rotates a set with missing backups, and one with no live file (only the backups shift), without failing', async () => {
    const rotation = virtlogdRotation(log, 3);
    await writeFile(log, 'first');
    await rotation.rotate();
    expect(await contents()).toEqual({ 'console.log.0': 'first' });
    await rotation.rotate();
    expect(await contents()).toEqual({ 'console.log.1': 'first' });
  });

  it('what a writer rotated is what the reader reads, oldest byte first', async () => {
    const rotation = virtlogdRotation(log, 4);
    for (const chunk of ['ab', 'cd', 'ef']) {
      await rotation.rotate();
      await writeFile(log, chunk);
    }
    expect((await readLogWindow(rotation.files, 100, [root])).toString()).toBe('abcdef');
  });
});

describe('Hyper-V naming', () => {
  it('lists the live file and its single backup .1', () => {
    expect(hypervRotation('/l/console.log').files).toEqual(['/l/console.log', '/l/console.log.1']);
  });

  it('a rotation replaces the backup with the live file', async () => {
    const rotation = hypervRotation(log);
    await writeFile(log, 'live');
    await writeFile(`${log}.1`, 'old');
    await rotation.rotate();
    await writeFile(log, 'next');
    expect(await contents()).toEqual({ 'console.log': 'next', 'console.log.1': 'live' });
    expect((await readLogWindow(rotation.files, 100, [root])).toString()).toBe('livenext');
  });
});
