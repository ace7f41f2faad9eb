/**
 * The event follower against a stand-in for `virsh event --all --loop`: libvirt's test driver
 * keeps each connection's domains to itself, so no other process can make it emit events. The
 * stand-in is a real process that prints event lines recorded from real libvirtd (see
 * test/fixtures/virsh-events), then either exits (as virsh does when libvirtd restarts) or stays,
 * as a live subscription does. Everything else is passed to the real virsh.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { coalesceEvents } from '../../../lib/hypervisors/coalesce-events.ts';
import type { DriverEvent } from '../../../lib/hypervisors/driver.ts';
import { LibvirtDriver } from '../../../lib/hypervisors/libvirt/libvirt-driver.ts';
import type { VirshEvent } from '../../../lib/hypervisors/libvirt/parse-event-line.ts';
import { watchEvents } from '../../../lib/hypervisors/libvirt/watch-events.ts';
import { isAlive } from '../../helpers/agent-process.ts';
import { requireToolsOrSkip } from '../../helpers/require-tools.ts';
import { waitFor } from '../../helpers/wait.ts';

const START = ["event 'lifecycle' for domain 'g': Resumed Unpaused", "event 'lifecycle' for domain 'g': Started Booted"];

describe.runIf(requireToolsOrSkip(['virsh']))('following libvirt events', () => {
  let dir: string;
  let runs: string;
  let calls: string;
  let events: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vmconsole-events-'));
    runs = join(dir, 'event-runs');
    calls = join(dir, 'calls');
    events = join(dir, 'events');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** `then`: what the event stand-in does after printing `lines`: exit, or hold the subscription open. */
  const standIn = async (then: 'exit' | 'stay', lines: readonly string[]) => {
    await writeFile(events, lines.map((l) => `${l}\n`).join(''));
    const path = join(dir, 'virsh');
    await writeFile(path, `#!/bin/sh
printf '%s\\n' "$*" >> '${calls}'
case "$*" in
  *' event --all --loop'*)
    echo $$ >> '${runs}'
    cat '${events}'
    ${then === 'exit' ? 'exit 0' : 'exec sleep 600'} ;;
esac
exec virsh "$@"
`);
    await chmod(path, 0o755);
    return path;
  };
  const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const until = (probe: () => Promise<boolean> | boolean, timeoutMs = 5_000) => waitFor(probe, timeoutMs, 'the watched condition');

  it('parses every line in order, reports gaps, and restarts an exited virsh after a pause', async () => {
    const jobCompleted = ["event 'job-completed' for domain 'g':", '\toperation: 2', '\ttime_elapsed: 2009'];
    const virshPath = await standIn('exit', [...START, ...jobCompleted, 'a line from some future virsh', 'events received: 3']);
    const seen: VirshEvent[] = [];
    const gaps: string[] = [];
    const signal = new AbortController();
    watchEvents({ uri: 'test:///default', virshPath, signal: signal.signal, onEvent: (e) => seen.push(e), onGap: (r) => gaps.push(r) });

    await until(() => gaps.length === 2);
    expect(seen.map((e) => (e.kind === 'lifecycle' ? e.type : e.name))).toEqual(['resumed', 'started', 'job-completed']);
    // Neither the job's payload lines nor virsh's closing count are gaps; an unknown line is.
    expect(gaps[0]).toMatch(/does not know: a line from some future virsh/);
    expect(gaps[1]).toBe('virsh event exited');
    expect(await lines(runs)).toHaveLength(1);
    await sleep(500);
    expect(await lines(runs)).toHaveLength(1); // backing off, not spinning

    await until(async () => (await lines(runs)).length === 2, 3_000);
    await until(() => gaps.some((g) => /restarted/.test(g)));
    await until(() => seen.length === 6);
    signal.abort();
    const reported = gaps.length;
    await sleep(2_500);
    expect(await lines(runs)).toHaveLength(2); // no restart after abort
    expect(gaps).toHaveLength(reported);
  });

  describe('the libvirt driver', () => {
    const uuid = '11111111-1111-4111-8111-111111111111';
    const driverWith = async (eventLines: readonly string[]) => {
      const virshPath = await standIn('stay', eventLines);
      await writeFile(join(dir, 'node.xml'), `<node><domain type='test'><name>g</name><uuid>${uuid}</uuid><memory>65536</memory><os><type>hvm</type></os>`
        + `<devices><console type='file'><source path='${dir}/g.log'/></console></devices></domain></node>`);
      await writeFile(join(dir, 'g.log'), 'hello\n');
      return new LibvirtDriver({ uri: `test://${dir}/node.xml`, roots: [dir], instancesDir: dir, virshPath });
    };

    it('reports lifecycle events by server id, and a name it has not listed as a resync', async () => {
      const driver = await driverWith([...START, "event 'lifecycle' for domain 'newcomer': Defined Added", "event 'lifecycle' for domain 'g': Crashed Panicked"]);
      await driver.listServers();
      const seen: DriverEvent[] = [];
      const abort = new AbortController();
      driver.watch((e) => seen.push(e), abort.signal);
      await until(() => seen.length === 4);
      abort.abort();
      const server = { id: uuid, instanceName: 'g' };
      expect(seen.map(({ at, ...rest }) => rest)).toEqual([
        { type: 'resumed', server, reason: 'Resumed Unpaused' },
        { type: 'started', server, reason: 'Started Booted' },
        { type: 'resync', reason: "event for domain 'newcomer', unknown until the next listing" },
        { type: 'crashed', server, reason: 'Crashed Panicked' },
      ]);
      expect(seen.every((e) => Math.abs(e.at - Date.now()) < 10_000)).toBe(true);
    });

    it('drops its cached XML on an event, serves many subscribers from one virsh, and kills it when the last one leaves', async () => {
      const driver = await driverWith(START);
      const dumpxmls = async () => (await lines(calls)).filter((c) => c.includes(' dumpxml ')).length;
      await driver.readConsoleLog({ id: uuid, instanceName: 'g' }, 100);
      await driver.readConsoleLog({ id: uuid, instanceName: 'g' }, 100);
      expect(await dumpxmls()).toBe(1);

      const first: DriverEvent[] = [];
      const second: DriverEvent[] = [];
      const one = new AbortController();
      const two = new AbortController();
      driver.watch((e) => first.push(e), one.signal);
      driver.watch((e) => second.push(e), two.signal);
      await until(() => first.length === 2 && second.length === 2);
      expect(first.map((e) => e.type)).toEqual(['resumed', 'started']); // the XML read named 'g'
      expect((await driver.readConsoleLog({ id: uuid, instanceName: 'g' }, 100)).toString()).toBe('hello\n');
      expect(await dumpxmls()).toBe(2);

      const [pid] = (await lines(runs)).map(Number);
      expect(await lines(runs)).toHaveLength(1);
      one.abort();
      await sleep(200);
      expect(isAlive(pid!)).toBe(true);
      two.abort();
      await until(() => !isAlive(pid!));
      await sleep(1_200);
      expect(await lines(runs)).toHaveLength(1);
    });

    it('a burst of events reaches a coalescing subscriber once', async () => {
      const driver = await driverWith([...START, ...START]);
      await driver.listServers();
      const bursts: DriverEvent[][] = [];
      const abort = new AbortController();
      driver.watch(coalesceEvents((events) => bursts.push(events), 150, abort.signal), abort.signal);
      await until(() => bursts.length === 1);
      await sleep(400);
      abort.abort();
      expect(bursts).toHaveLength(1);
      expect(bursts[0]!.map((e) => e.type)).toEqual(['resumed', 'started', 'resumed', 'started']);
    });
  });
});
