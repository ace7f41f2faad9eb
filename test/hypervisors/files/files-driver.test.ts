import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VmconsoleError } from '../../../lib/errors.ts';
import { FilesDriver } from '../../../lib/hypervisors/files/files-driver.ts';
import type { Logger } from '../../../lib/logger.ts';

const A = '0b5e7a52-4c1a-4f4e-9a51-3f6f3c1c0a01';
const B = '1c6f8b63-5d2b-4a5f-8b62-4a7a4d2d1b02';
const UPPER = 'ABCDEF01-2345-4678-9ABC-DEF012345678';

let dir: string;
let warnings: string[];
let driver: FilesDriver;

const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message) => {
    warnings.push(typeof message === 'string' ? message : JSON.stringify(message));
  },
  error: () => undefined,
};

function instance(name: string, files: Record<string, string | Buffer> = {}): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(join(path, file), content);
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<VmconsoleError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VmconsoleError);
  return err as VmconsoleError;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vmconsole-instances-'));
  warnings = [];
  driver = new FilesDriver({ instancesDir: dir, roots: [dir], logger });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('FilesDriver.listServers', () => {
  it('is the files kind', () => {
    expect(driver.kind).toBe('files');
  });

  it('lists UUID-named directories with their sidecar metadata', async () => {
    instance(A, { 'instance.json': JSON.stringify({ name: 'web-1', projectId: 'p1', userId: 'u1', state: 'stopped' }) });
    instance(B, { 'instance.json': JSON.stringify({ name: 'db', projectId: 'p2', userId: 'u2' }) });
    const servers = await driver.listServers();
    expect(servers.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: A, name: 'web-1', projectId: 'p1', userId: 'u1', state: 'stopped', instanceName: A },
      { id: B, name: 'db', projectId: 'p2', userId: 'u2', state: 'active', instanceName: B },
    ]);
    expect(warnings).toEqual([]);
  });

  it('lowercases the id but keeps the directory name as instanceName', async () => {
    instance(UPPER);
    expect(await driver.listServers()).toEqual([
      { id: UPPER.toLowerCase(), name: UPPER.toLowerCase(), projectId: 'unassigned', userId: 'unassigned', state: 'active', instanceName: UPPER },
    ]);
  });

  it('ignores files, non-UUID directories and the _base cache', async () => {
    instance('_base');
    instance('locks');
    instance(`${A}_resize`);
    writeFileSync(join(dir, B), 'a file, not a directory');
    expect(await driver.listServers()).toEqual([]);
  });

  it('lists a server without a sidecar as unassigned, without warning', async () => {
    instance(A, { 'console.log': 'boot\n' });
    expect(await driver.listServers()).toEqual([
      { id: A, name: A, projectId: 'unassigned', userId: 'unassigned', state: 'active', instanceName: A },
    ]);
    expect(warnings).toEqual([]);
  });

  it.each([
    ['broken JSON', '{"name": '],
    ['a wrong shape', JSON.stringify({ name: 'x', projectId: '' })],
    ['an unknown state', JSON.stringify({ name: 'x', projectId: 'p', userId: 'u', state: 'exploded' })],
    ['a JSON array', '[]'],
  ])('lists a server whose sidecar is %s as unassigned and warns once', async (_, content) => {
    instance(A, { 'instance.json': content });
    const unassigned = { id: A, name: A, projectId: 'unassigned', userId: 'unassigned', state: 'active', instanceName: A };
    expect(await driver.listServers()).toEqual([unassigned]);
    expect(await driver.listServers()).toEqual([unassigned]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(join(dir, A, 'instance.json'));
  });

  it('does not block on a FIFO sidecar', async () => {
    instance(A);
    execFileSync('mkfifo', [join(dir, A, 'instance.json')]);
    expect((await driver.listServers())[0]?.projectId).toBe('unassigned');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${join(dir, A, 'instance.json')} is a FIFO`);
  });

  it('does not follow a sidecar link out of the instances directory', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'vmconsole-outside-'));
    try {
      writeFileSync(join(outside, 'instance.json'), JSON.stringify({ name: 'stolen', projectId: 'victim', userId: 'u' }));
      instance(A);
      symlinkSync(join(outside, 'instance.json'), join(dir, A, 'instance.json'));
      expect((await driver.listServers())[0]?.projectId).toBe('unassigned');
      expect(warnings).toHaveLength(1);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('follows a sidecar link that stays inside the instances directory', async () => {
    instance(A);
    writeFileSync(join(dir, 'shared.json'), JSON.stringify({ name: 'web', projectId: 'p', userId: 'u' }));
    symlinkSync(join(dir, 'shared.json'), join(dir, A, 'instance.json'));
    expect((await driver.listServers())[0]?.name).toBe('web');
  });

  it('gives no servers, with a warning, when the instances directory does not exist', async () => {
    const missing = new FilesDriver({ instancesDir: join(dir, 'nope'), roots: [dir], logger });
    expect(await missing.listServers()).toEqual([]);
    expect(warnings).toHaveLength(1);
  });

  it('lists many instances', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    for (const id of ids) instance(id, { 'instance.json': JSON.stringify({ name: `vm-${id.slice(-2)}`, projectId: 'p', userId: 'u' }) });
    const servers = await driver.listServers();
    expect(servers.map((s) => s.id).sort()).toEqual(ids);
    expect(servers.every((s) => s.name === `vm-${s.id.slice(-2)}`)).toBe(true);
  });
});

describe('FilesDriver.readConsoleLog', () => {
  it('reads the window across console.log and its rotated backups', async () => {
    instance(A, { 'console.log': 'uvwxyz', 'console.log.0': 'klmnopqrst', 'console.log.1': 'abcdefghij' });
    const ref = { id: A, instanceName: A };
    expect((await driver.readConsoleLog(ref, 12)).toString()).toBe('opqrstuvwxyz');
    expect((await driver.readConsoleLog(ref, 30)).toString()).toBe('abcdefghijklmnopqrstuvwxyz');
  });

  it('matches the id case-insensitively against the directory name', async () => {
    instance(UPPER, { 'console.log': 'hello\n' });
    expect((await driver.readConsoleLog({ id: UPPER.toLowerCase(), instanceName: UPPER }, 100)).toString()).toBe('hello\n');
  });

  it('gives an empty buffer when the instance has no console.log yet', async () => {
    instance(A);
    expect(await driver.readConsoleLog({ id: A, instanceName: A }, 100)).toEqual(Buffer.alloc(0));
  });

  it('answers ServerNotFound for an unknown server', async () => {
    expect((await rejection(driver.readConsoleLog({ id: A, instanceName: A }, 100))).code).toBe('ServerNotFound');
  });

  it('answers ServerNotFound when the instance name is not the server id', async () => {
    instance(A, { 'console.log': 'a' });
    instance(B, { 'console.log': 'b' });
    expect((await rejection(driver.readConsoleLog({ id: A, instanceName: B }, 100))).code).toBe('ServerNotFound');
  });

  it('answers ServerNotFound for instance names that try to leave the instances directory', async () => {
    for (const instanceName of ['..', `../${A}`, `${A}/..`, '/etc', 'instance-00000001']) {
      expect((await rejection(driver.readConsoleLog({ id: A, instanceName }, 100))).code).toBe('ServerNotFound');
    }
  });

  it('answers ServerNotFound when the UUID names a file, not a directory', async () => {
    writeFileSync(join(dir, A), 'x');
    expect((await rejection(driver.readConsoleLog({ id: A, instanceName: A }, 100))).code).toBe('ServerNotFound');
  });

  it('refuses a console.log that links outside the log roots', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'vmconsole-outside-'));
    try {
      writeFileSync(join(outside, 'shadow'), 'secret');
      instance(A);
      symlinkSync(join(outside, 'shadow'), join(dir, A, 'console.log'));
      const err = await rejection(driver.readConsoleLog({ id: A, instanceName: A }, 100));
      expect(err.code).toBe('Forbidden');
      // The tenant reads no path; the operator's detail names both ends of the link.
      expect(err.message).not.toContain('/');
      expect(err.detail).toContain(join(dir, A, 'console.log'));
      expect(err.detail).toContain(join(outside, 'shadow'));
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('refuses everything when the instances directory is outside the roots', async () => {
    instance(A, { 'console.log': 'boot\n' });
    const confined = new FilesDriver({ instancesDir: dir, roots: [join(dir, 'elsewhere')], logger });
    mkdirSync(join(dir, 'elsewhere'));
    expect((await rejection(confined.readConsoleLog({ id: A, instanceName: A }, 100))).code).toBe('Forbidden');
  });
});

describe('FilesDriver.consoleLogSet', () => {
  it("names the instance's console.log and its virtlogd-style backups, before the log exists, without reading it", async () => {
    instance(A);
    const set = await driver.consoleLogSet({ id: A, instanceName: A });
    expect(set.files.slice(0, 3)).toEqual([join(dir, A, 'console.log'), join(dir, A, 'console.log.0'), join(dir, A, 'console.log.1')]);
  });

  it('answers ServerNotFound for instance names that are not the server id', async () => {
    for (const instanceName of ['..', `../${A}`, B, 'instance-00000001']) {
      expect((await rejection(driver.consoleLogSet({ id: A, instanceName }))).code).toBe('ServerNotFound');
    }
  });
});

describe('FilesDriver.consoleLogs', () => {
  it('port 0 is console.log (before it exists); port n is console-<n>.log when that file exists, 1 to 31 only', async () => {
    instance(A, { 'console-2.log': 'two', 'console-1.log': 'one', 'console-1.log.0': 'rotated', 'console-0.log': 'x', 'console-32.log': 'x', 'console-01.log': 'x', 'console-x.log': 'x' });
    const logs = await driver.consoleLogs({ id: A, instanceName: A });
    expect(logs.map(({ port, name, log }) => ({ port, name, files: log.files.slice(0, 2) }))).toEqual([
      { port: 0, name: null, files: [join(dir, A, 'console.log'), join(dir, A, 'console.log.0')] },
      { port: 1, name: null, files: [join(dir, A, 'console-1.log'), join(dir, A, 'console-1.log.0')] },
      { port: 2, name: null, files: [join(dir, A, 'console-2.log'), join(dir, A, 'console-2.log.0')] },
    ]);
    expect((await rejection(driver.consoleLogs({ id: A, instanceName: B }))).code).toBe('ServerNotFound');
  });
});

describe('FilesDriver.consoleEndpoint', () => {
  it('a server that is a log file has no remote console of any protocol; a server not here is not found', async () => {
    instance(A, { 'console.log': 'boot\n' });
    for (const protocol of ['vnc', 'spice', 'serial'] as const) {
      expect(await driver.consoleEndpoint({ id: A, instanceName: A }, protocol)).toBeUndefined();
    }
    const missing = '0b0e1c6a-0000-4000-8000-000000000000';
    expect((await rejection(driver.consoleEndpoint({ id: missing, instanceName: missing }))).code).toBe('ServerNotFound');
  });
});
