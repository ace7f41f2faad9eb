/**
 * LibvirtDriver on a pty console without a log (Nova's drain path), on real virsh with libvirt's
 * test driver and a REAL pty (fake-pty-guest.ts). The test driver does not allocate ptys, so its
 * live XML lacks the `<source path='/dev/pts/N'/>` real libvirt shows for a running pty console
 * (see test/fixtures/libvirt-xml/live-pty-virtlogd-nova.xml); the virsh wrapper adds exactly that
 * to `dumpxml` output, taking N from a file the test rewrites when the "guest restarts". Every
 * other byte comes from the real virsh.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LibvirtDriver } from '../../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { startFakePtyGuest, type FakePtyGuest } from '../../helpers/fake-pty-guest.ts';
import { requireToolsOrSkip } from '../../helpers/require-tools.ts';

const UUID = '22222222-2222-4222-8222-222222222222';
const node = (runstate: number) => `<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'><name>instance-00000002</name>`
  + `<uuid>${UUID}</uuid><memory>65536</memory><os><type>hvm</type></os>`
  + `<devices><console type='pty'><target type='serial' port='0'/></console></devices><test:runstate>${runstate}</test:runstate></domain></node>`;

describe.runIf(requireToolsOrSkip(['virsh', 'python3']))('LibvirtDriver draining a pty console without a log', () => {
  let dir: string;
  let guests: FakePtyGuest[];
  let driver: LibvirtDriver;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmconsole-libvirt-pty-'));
    guests = [];
    const virshPath = join(dir, 'live-pty-virsh');
    await writeFile(virshPath, `#!/bin/sh
printf '%s\\n' "$*" >> '${dir}/calls'
case "$*" in
  *' dumpxml '*)
    xml=$(virsh "$@") || exit $?
    pty=$(cat '${dir}/pty')
    [ -n "$pty" ] && xml=$(printf '%s\\n' "$xml" | sed "s|<console type='pty'>|<console type='pty' tty='$pty'><source path='$pty'/>|")
    printf '%s\\n' "$xml"
    exit 0 ;;
esac
exec virsh "$@"
`);
    await chmod(virshPath, 0o755);
    driver = new LibvirtDriver({ uri: `test://${dir}/node.xml`, roots: [join(dir, 'instances')], instancesDir: join(dir, 'instances'), virshPath });
  });
  afterEach(async () => {
    await Promise.all(guests.map((g) => g.exit()));
    await rm(dir, { recursive: true, force: true });
  });

  /** The domain runs on a fresh pty, or (undefined) is shut off and has none. */
  const boot = async (guest: FakePtyGuest | undefined) => {
    await writeFile(join(dir, 'node.xml'), node(guest ? 1 : 5));
    await writeFile(join(dir, 'pty'), guest?.ptyPath ?? '');
  };
  const guest = async () => {
    const g = await startFakePtyGuest();
    guests.push(g);
    return g;
  };
  const read = async () => (await driver.readConsoleLog({ id: UUID, instanceName: 'instance-00000002' }, 100)).toString();
  const dumpxmls = async () => (await readFile(join(dir, 'calls'), 'utf8')).split('\n').filter((c) => c.includes(' dumpxml ')).length;

  it('drains into <instancesDir>/<uuid>/console.log and reads the window from it', async () => {
    const a = await guest();
    await boot(a);
    await a.print('Linux version 6.1\r\n');
    expect(await read()).toBe('Linux version 6.1\r\n');
    await a.print('login: ');
    expect(await read()).toBe('Linux version 6.1\r\nlogin: ');
    expect(await readFile(join(dir, 'instances', UUID, 'console.log'), 'utf8')).toBe('Linux version 6.1\r\nlogin: ');
  });

  it('asks libvirt for the pty at every read: after a restart without an event it drains the new pty, never the old one', async () => {
    const a = await guest();
    await boot(a);
    await a.print('first boot\n');
    expect(await read()).toBe('first boot\n');

    // The guest restarts on another pty; its old pty number now belongs to someone else.
    const b = await guest();
    await boot(b);
    await a.print('someone else\n');
    await b.print('second boot\n');
    expect(await read()).toBe('first boot\nsecond boot\n');
    expect(await dumpxmls()).toBe(2);
  });

  it('once the domain is shut off (no pty) the drained output stays readable', async () => {
    const a = await guest();
    await boot(a);
    await a.print('before shutdown\n');
    expect(await read()).toBe('before shutdown\n');
    await boot(undefined);
    await a.print('not drained\n');
    expect(await read()).toBe('before shutdown\n');
  });
});
