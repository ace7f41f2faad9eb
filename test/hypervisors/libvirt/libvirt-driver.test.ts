/**
 * LibvirtDriver against real virsh and libvirt's TEST driver (`test:///abs/node.xml`): no daemon,
 * the domains come from a node XML file written per test, and the node file is re-read at every
 * virsh call, so rewriting it is how a test changes a domain under the driver. virsh is reached
 * through a wrapper script that logs each invocation, so tests can count virsh calls.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LibvirtDriver } from '../../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { NOVA_NAMESPACE } from '../../../lib/hypervisors/libvirt/domain-xml.ts';
import { VmconsoleError } from '../../../lib/errors.ts';
import { requireToolsOrSkip } from '../../helpers/require-tools.ts';

interface TestDomain {
  name: string;
  uuid: string;
  /** virDomainState: 1 running, 3 paused, 4 shutdown, 5 shutoff, 6 crashed, 7 pmsuspended. */
  runstate?: number;
  nova?: { name: string; projectId: string; userId: string };
  console?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

function nodeXml(domains: readonly TestDomain[]): string {
  const body = domains.map((d) => {
    const nova = d.nova
      ? `<metadata><os:instance xmlns:os="${NOVA_NAMESPACE}"><os:name>${esc(d.nova.name)}</os:name><os:owner>`
        + `<os:user uuid="${d.nova.userId}">u</os:user><os:project uuid="${d.nova.projectId}">p</os:project></os:owner></os:instance></metadata>`
      : '';
    return `<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>${esc(d.name)}</name><uuid>${d.uuid}</uuid>${nova}`
      + `<memory>65536</memory><os><type>hvm</type></os><devices>${d.console ?? ''}</devices>`
      + `${d.runstate ? `<test:runstate>${d.runstate}</test:runstate>` : ''}</domain>`;
  });
  return `<node>${body.join('')}</node>`;
}

const ptyWithLog = (file: string) => `<console type='pty'><log file='${esc(file)}' append='off'/><target type='serial' port='0'/></console>`;
const tcpWithLog = (file: string) => `<console type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/><protocol type='raw'/><log file='${esc(file)}'/><target type='serial' port='0'/></console>`;
const fileConsole = (file: string) => `<console type='file'><source path='${esc(file)}'/><target type='serial' port='0'/></console>`;
const ptyOnly = `<console type='pty'><target type='serial' port='0'/></console>`;

const uuid = (n: number) => `${String(n).repeat(8)}-${String(n).repeat(4)}-4${String(n).repeat(3)}-8${String(n).repeat(3)}-${String(n).repeat(12)}`;
const ref = (id: string) => ({ id, instanceName: 'instance-unused' });

describe.runIf(requireToolsOrSkip(['virsh']))('LibvirtDriver on libvirt test driver', () => {
  let dir: string;
  let logs: string;
  let instances: string;
  let nodeFile: string;
  let callLog: string;
  let virshPath: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmconsole-libvirt-driver-'));
    logs = join(dir, 'logs');
    instances = join(dir, 'instances');
    await mkdir(logs);
    nodeFile = join(dir, 'node.xml');
    callLog = join(dir, 'virsh-calls.log');
    virshPath = join(dir, 'counting-virsh');
    await writeFile(virshPath, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${callLog}'\nexec virsh "$@"\n`);
    await chmod(virshPath, 0o755);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const define = (domains: readonly TestDomain[]) => writeFile(nodeFile, nodeXml(domains));
  const driver = (roots: readonly string[] = [logs, instances]) => new LibvirtDriver({ uri: `test://${nodeFile}`, roots, instancesDir: instances, virshPath });
  const calls = async () => (await readFile(callLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const failure = async (p: Promise<unknown>): Promise<VmconsoleError> => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(VmconsoleError);
    return err as VmconsoleError;
  };

  it('lists every domain with its state, Nova owner when present, libvirt name otherwise', async () => {
    const nova = { name: 'web & db', projectId: 'proj-1', userId: 'user-1' };
    await define([
      { name: 'instance-00000001', uuid: uuid(1), nova, console: ptyWithLog(join(logs, 'a.log')) },
      { name: 'paused guest', uuid: uuid(2), runstate: 3 },
      { name: 'in-shutdown', uuid: uuid(3), runstate: 4 },
      { name: 'shut off', uuid: uuid(4), runstate: 5 },
      { name: 'crashed', uuid: uuid(5), runstate: 6 },
      { name: 'suspended', uuid: uuid(6), runstate: 7 },
    ]);
    const servers = await driver().listServers();
    const byId = Object.fromEntries(servers.map((s) => [s.id, s]));
    expect(servers).toHaveLength(6);
    expect(byId[uuid(1)]).toEqual({ id: uuid(1), name: 'web & db', projectId: 'proj-1', userId: 'user-1', state: 'active', instanceName: 'instance-00000001' });
    expect(byId[uuid(2)]).toEqual({ id: uuid(2), name: 'paused guest', projectId: 'unassigned', userId: 'unassigned', state: 'paused', instanceName: 'paused guest' });
    expect(byId[uuid(3)]?.state).toBe('active');
    expect(byId[uuid(4)]?.state).toBe('stopped');
    expect(byId[uuid(4)]?.name).toBe('shut off');
    expect(byId[uuid(5)]?.state).toBe('crashed');
    expect(byId[uuid(6)]?.state).toBe('suspended');
  });

  it('reads the last window across virtlogd rotation, oldest byte first (spec vector)', async () => {
    const log = join(logs, 'console.log');
    await writeFile(log, 'uvwxyz');
    await writeFile(`${log}.0`, 'klmnopqrst');
    await writeFile(`${log}.1`, 'abcdefghij');
    await define([{ name: 'g', uuid: uuid(1), console: ptyWithLog(log) }]);
    const d = driver();
    const read = async (window: number) => (await d.readConsoleLog(ref(uuid(1)), window)).toString();
    expect(await read(4)).toBe('wxyz');
    expect(await read(6)).toBe('uvwxyz');
    expect(await read(12)).toBe('opqrstuvwxyz');
    expect(await read(26)).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(await read(30)).toBe('abcdefghijklmnopqrstuvwxyz');
  });

  it('tcp console with a log, file console, and a stopped domain all read their file', async () => {
    await writeFile(join(logs, 'tcp.log'), 'tcp output\n');
    await writeFile(join(logs, 'file.log'), 'file output\n');
    await writeFile(join(logs, 'stopped.log'), 'before it stopped\n');
    await define([
      { name: 'tcp', uuid: uuid(1), console: tcpWithLog(join(logs, 'tcp.log')) },
      { name: 'file', uuid: uuid(2), console: fileConsole(join(logs, 'file.log')) },
      { name: 'stopped', uuid: uuid(3), runstate: 5, console: ptyWithLog(join(logs, 'stopped.log')) },
    ]);
    const d = driver();
    expect((await d.readConsoleLog(ref(uuid(1)), 100)).toString()).toBe('tcp output\n');
    expect((await d.readConsoleLog(ref(uuid(2)), 100)).toString()).toBe('file output\n');
    expect((await d.readConsoleLog(ref(uuid(3)), 100)).toString()).toBe('before it stopped\n');
  });

  it('a console whose log does not exist yet reads as empty', async () => {
    await define([{ name: 'g', uuid: uuid(1), console: ptyWithLog(join(logs, 'never-written.log')) }]);
    expect((await driver().readConsoleLog(ref(uuid(1)), 100)).length).toBe(0);
  });

  it('an inactive pty console without a log reads what Nova drained to <instancesDir>/<uuid>/console.log', async () => {
    await mkdir(join(instances, uuid(1)), { recursive: true });
    await writeFile(join(instances, uuid(1), 'console.log.0'), 'rotated\n');
    await writeFile(join(instances, uuid(1), 'console.log'), 'drained earlier\n');
    await define([{ name: 'g', uuid: uuid(1), runstate: 5, console: ptyOnly }]);
    expect((await driver().readConsoleLog(ref(uuid(1)), 100)).toString()).toBe('rotated\ndrained earlier\n');
  });

  it('names the log set a follower watches: the XML\'s log file, the drained console.log of a bare pty, none without a console', async () => {
    const log = join(logs, 'console.log');
    await define([
      { name: 'logged', uuid: uuid(1), console: ptyWithLog(log) },
      { name: 'file', uuid: uuid(2), console: fileConsole(join(logs, 'file.log')) },
      { name: 'bare-pty', uuid: uuid(3), runstate: 5, console: ptyOnly },
      { name: 'bare', uuid: uuid(4) },
    ]);
    const d = driver();
    expect((await d.consoleLogSet(ref(uuid(1))))?.files.slice(0, 2)).toEqual([log, `${log}.0`]);
    expect((await d.consoleLogSet(ref(uuid(2))))?.files[0]).toBe(join(logs, 'file.log'));
    expect((await d.consoleLogSet(ref(uuid(3))))?.files[0]).toBe(join(instances, uuid(3), 'console.log'));
    expect(await d.consoleLogSet(ref(uuid(4)))).toBeUndefined();
    expect((await failure(d.consoleLogSet(ref(uuid(9))))).code).toBe('ServerNotFound');
    // Nothing was read or drained: naming the set is no reason to create the log.
    await expect(readFile(log)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('names every serial port with a log by port: port 0 as consoleLogSet, further <serial> ports as ttyS<n>', async () => {
    const serial = (port: number, file: string) => `<serial type='pty'><log file='${esc(file)}' append='off'/><target type='isa-serial' port='${port}'/></serial>`;
    await define([
      { name: 'two', uuid: uuid(1), console: `${serial(0, join(logs, 'zero.log'))}${serial(2, join(logs, 'two.log'))}${serial(1, join(logs, 'one.log'))}${ptyWithLog(join(logs, 'zero.log'))}` },
      { name: 'bare-pty', uuid: uuid(3), runstate: 5, console: ptyOnly },
      { name: 'bare', uuid: uuid(4) },
    ]);
    const d = driver();
    const named = (logs: Awaited<ReturnType<LibvirtDriver['consoleLogs']>>) => logs.map(({ port, name, log }) => ({ port, name, file: log.files[0] }));
    expect(named(await d.consoleLogs(ref(uuid(1))))).toEqual([
      { port: 0, name: 'ttyS0', file: join(logs, 'zero.log') },
      { port: 1, name: 'ttyS1', file: join(logs, 'one.log') },
      { port: 2, name: 'ttyS2', file: join(logs, 'two.log') },
    ]);
    expect(named(await d.consoleLogs(ref(uuid(3))))).toEqual([{ port: 0, name: 'ttyS0', file: join(instances, uuid(3), 'console.log') }]);
    expect(await d.consoleLogs(ref(uuid(4)))).toEqual([]);
    expect((await failure(d.consoleLogs(ref(uuid(9))))).code).toBe('ServerNotFound');
  });

  it('no console -> NoConsole; unknown domain -> ServerNotFound', async () => {
    await define([{ name: 'bare', uuid: uuid(1) }]);
    const d = driver();
    const none = await failure(d.readConsoleLog(ref(uuid(1)), 100));
    expect([none.code, none.message]).toEqual(['NoConsole', 'server has no console']);
    expect((await failure(d.readConsoleLog(ref(uuid(9)), 100))).code).toBe('ServerNotFound');
  });

  it('looks a server up by UUID only: a domain re-created under its name with a new UUID is another guest', async () => {
    await writeFile(join(logs, 'new-guest.log'), 'not yours\n');
    await define([{ name: 'instance-00000001', uuid: uuid(2), console: fileConsole(join(logs, 'new-guest.log')) }]);
    const err = await failure(driver().readConsoleLog({ id: uuid(1), instanceName: 'instance-00000001' }, 100));
    expect(err.code).toBe('ServerNotFound');
  });

  it('a log outside the roots -> Forbidden, also through a symlink', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'vmconsole-outside-'));
    try {
      await writeFile(join(outside, 'secret.log'), 'secret');
      await symlink(join(outside, 'secret.log'), join(logs, 'link.log'));
      await define([
        { name: 'a', uuid: uuid(1), console: fileConsole(join(outside, 'secret.log')) },
        { name: 'b', uuid: uuid(2), console: fileConsole(join(logs, 'link.log')) },
      ]);
      const d = driver();
      expect((await failure(d.readConsoleLog(ref(uuid(1)), 100))).code).toBe('Forbidden');
      expect((await failure(d.readConsoleLog(ref(uuid(2)), 100))).code).toBe('Forbidden');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('caches parsed XML: a listing costs two virsh calls plus one dumpxml per new domain, a read of a known domain none', async () => {
    await writeFile(join(logs, 'a.log'), 'A\n');
    await define([
      { name: 'a', uuid: uuid(1), console: ptyWithLog(join(logs, 'a.log')) },
      { name: 'b', uuid: uuid(2), runstate: 5 },
    ]);
    const d = driver();
    await d.listServers();
    const first = await calls();
    expect(first.filter((c) => c.includes(' list ')).length).toBe(2);
    expect(first.filter((c) => c.includes(' dumpxml ')).sort()).toEqual([`-q -c test://${nodeFile} dumpxml ${uuid(1)}`, `-q -c test://${nodeFile} dumpxml ${uuid(2)}`]);

    expect((await d.readConsoleLog(ref(uuid(1)), 100)).toString()).toBe('A\n');
    expect((await d.readConsoleLog(ref(uuid(1)), 100)).toString()).toBe('A\n');
    expect(await calls()).toHaveLength(first.length);

    await d.listServers();
    expect((await calls()).slice(first.length).every((c) => c.includes(' list '))).toBe(true);
  });

  it('a read of an unlisted domain fetches its XML once, then serves from the cache', async () => {
    await writeFile(join(logs, 'a.log'), 'A\n');
    await define([{ name: 'a', uuid: uuid(1), console: ptyWithLog(join(logs, 'a.log')) }]);
    const d = driver();
    await d.readConsoleLog(ref(uuid(1).toUpperCase()), 100);
    await d.readConsoleLog(ref(uuid(1)), 100);
    expect(await calls()).toEqual([`-q -c test://${nodeFile} dumpxml ${uuid(1)}`]);
  });

  it('a listing that shows a changed state refetches that domain only', async () => {
    await define([{ name: 'a', uuid: uuid(1) }, { name: 'b', uuid: uuid(2) }]);
    const d = driver();
    await d.listServers();
    const before = (await calls()).length;
    await define([{ name: 'a', uuid: uuid(1), runstate: 5 }, { name: 'b', uuid: uuid(2) }]);
    expect((await d.listServers()).find((s) => s.id === uuid(1))?.state).toBe('stopped');
    expect((await calls()).slice(before).filter((c) => c.includes(' dumpxml '))).toEqual([`-q -c test://${nodeFile} dumpxml ${uuid(1)}`]);
  });

  it('a cached location that now yields nothing is looked up again (XML changed, no event seen)', async () => {
    await writeFile(join(logs, 'old.log'), 'old\n');
    await define([{ name: 'a', uuid: uuid(1), console: ptyWithLog(join(logs, 'old.log')) }]);
    const d = driver();
    expect((await d.readConsoleLog(ref(uuid(1)), 100)).toString()).toBe('old\n');
    await rm(join(logs, 'old.log'));
    await writeFile(join(logs, 'new.log'), 'new\n');
    await define([{ name: 'a', uuid: uuid(1), console: ptyWithLog(join(logs, 'new.log')) }]);
    expect((await d.readConsoleLog(ref(uuid(1)), 100)).toString()).toBe('new\n');
    // And a domain undefined meanwhile is reported as not found, not served from the cache.
    await rm(join(logs, 'new.log'));
    await define([]);
    expect((await failure(d.readConsoleLog(ref(uuid(1)), 100))).code).toBe('ServerNotFound');
  });

  it('virsh missing -> Internal naming it; libvirt unreachable -> Internal saying so; paths, URI and stderr in detail only', async () => {
    await define([]);
    const virshPath = join(dir, 'no-such-virsh');
    const missing = new LibvirtDriver({ uri: `test://${nodeFile}`, roots: [logs], instancesDir: instances, virshPath });
    const notInstalled = await failure(missing.listServers());
    expect(notInstalled.code).toBe('Internal');
    expect(notInstalled.message).toBe('virsh is not installed on this host');
    expect(notInstalled.detail).toContain(virshPath);

    const uri = 'qemu+unix:///system?socket=/nonexistent/libvirt-sock';
    const unreachable = new LibvirtDriver({ uri, roots: [logs], instancesDir: instances });
    const down = await failure(unreachable.listServers());
    expect(down.code).toBe('Internal');
    expect(down.message).toBe('cannot connect to libvirt');
    expect(down.detail).toContain(uri);
    expect(down.detail).toMatch(/\/nonexistent\/libvirt-sock.*: .*(connect|No such file)/);
  });

  it('a domain libvirt does not know -> ServerNotFound whose message carries no virsh stderr', async () => {
    await define([]);
    const err = await failure(driver().readConsoleLog(ref(uuid(9)), 100));
    expect(err.code).toBe('ServerNotFound');
    expect(err.message).toBe('the server is not defined on this host');
    expect(err.detail).toMatch(/Domain not found|failed to get domain/i);
  });
});
