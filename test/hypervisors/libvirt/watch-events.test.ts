/**
 * The event follower against a stand-in for `virsh event --all --loop`: libvirt's test driver
 * keeps each connection's domains to itself, so no other process can make it emit events. The
 * stand-in is a real process that prints event lines in virsh's format, then either exits (as
 * virsh does when libvirtd restarts) or stays, as a live subscription does. Everything else is
 * passed to the real virsh.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LibvirtDriver } from '../../../lib/hypervisors/libvirt/libvirt-driver.ts';
import { watchEvents } from '../../../lib/hypervisors/libvirt/watch-events.ts';
import { requireToolsOrSkip } from './require-tools.ts';

const EVENTS = `event 'lifecycle' for domain 'g': Started Booted\nevent 'lifecycle' for domain 'g': Resumed Unpaused\n`;

describe.runIf(requireToolsOrSkip(['virsh']))('following libvirt events', () => {
  let dir: string;
  let runs: string;
  let calls: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmconsole-events-'));
    runs = join(dir, 'event-runs');
    calls = join(dir, 'calls');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `then`: what the event stand-in does after printing: exit, or hold the subscription open. */
  const standIn = async (then: 'exit' | 'stay') => {
    const path = join(dir, 'virsh');
    await writeFile(path, `#!/bin/sh
printf '%s\\n' "$*" >> '${calls}'
case "$*" in
  *' event --all --loop'*)
    echo $$ >> '${runs}'
    printf "${EVENTS.replace(/\n/g, '\\n')}"
    ${then === 'exit' ? 'exit 0' : 'exec sleep 600'} ;;
esac
exec virsh "$@"
`);
    await chmod(path, 0o755);
    return path;
  };
  const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const until = async (probe: () => Promise<boolean> | boolean, timeoutMs = 5_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await sleep(20);
    }
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('every line invalidates at once, a burst is reported once, and an exited virsh is restarted after a pause', async () => {
    const virshPath = await standIn('exit');
    let events = 0;
    let changes = 0;
    const signal = new AbortController();
    watchEvents({ uri: 'test:///default', virshPath, signal: signal.signal, onEvent: () => events++, onChange: () => changes++ });

    await until(() => changes === 1);
    expect(events).toBeGreaterThanOrEqual(2);
    expect(await lines(runs)).toHaveLength(1);
    await sleep(500);
    expect(await lines(runs)).toHaveLength(1); // backing off, not spinning

    await until(async () => (await lines(runs)).length === 2, 3_000);
    await until(() => changes >= 2);
    signal.abort();
    const reported = changes;
    await sleep(2_500);
    expect(await lines(runs)).toHaveLength(2); // no restart after abort
    expect(changes).toBe(reported);
  });

  it('the driver drops its cached XML on an event, reports the change, and kills virsh on abort', async () => {
    const virshPath = await standIn('stay');
    const uuid = '11111111-1111-4111-8111-111111111111';
    await writeFile(join(dir, 'node.xml'), `<node><domain type='test'><name>g</name><uuid>${uuid}</uuid><memory>65536</memory><os><type>hvm</type></os>`
      + `<devices><console type='file'><source path='${dir}/g.log'/></console></devices></domain></node>`);
    await writeFile(join(dir, 'g.log'), 'hello\n');
    const driver = new LibvirtDriver({ uri: `test://${dir}/node.xml`, roots: [dir], instancesDir: dir, virshPath });
    const dumpxmls = async () => (await lines(calls)).filter((c) => c.includes(' dumpxml ')).length;

    await driver.readConsoleLog({ id: uuid, instanceName: 'g' }, 100);
    await driver.readConsoleLog({ id: uuid, instanceName: 'g' }, 100);
    expect(await dumpxmls()).toBe(1);

    let changes = 0;
    const abort = new AbortController();
    driver.watch(() => changes++, abort.signal);
    await until(() => changes === 1);
    expect((await driver.readConsoleLog({ id: uuid, instanceName: 'g' }, 100)).toString()).toBe('hello\n');
    expect(await dumpxmls()).toBe(2);

    const [pid] = (await lines(runs)).map(Number);
    expect(alive(pid!)).toBe(true);
    abort.abort();
    await until(() => !alive(pid!));
    await sleep(1_200);
    expect(await lines(runs)).toHaveLength(1);
  });
});
