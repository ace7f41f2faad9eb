import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalStack } from '../../lib/local/local-stack.ts';
import { describeWithOpenStackClients, nova, openstack, type CliAuth } from '../helpers/openstack-cli.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';
import { consoleWindow, NOVA_WINDOW_BYTES, novaConsoleOutput, novaPrints, openstackPrints } from '../helpers/nova-console-formula.ts';

// Real Debian clients against the whole local system (agent + files driver over real boot logs,
// serverless-offline running the real handlers): what an operator types must work unchanged.
describeWithOpenStackClients('openstack and nova CLIs against vmconsole', () => {
  const demo: CliAuth = { token: 'demo:demo' };
  const admin: CliAuth = { token: 'admin' };
  let running: TestStack | undefined;
  let stack: LocalStack;
  let endpoint: string;

  const server = (name: string) => {
    const found = stack.demoServers.find((s) => s.name === name);
    if (!found) throw new Error(`no demo server ${name}`);
    return found;
  };
  const expected = (name: string, length: number | null) => novaConsoleOutput(consoleWindow(join(stack.instancesDir, server(name).id)), length);

  beforeAll(async () => {
    running = await startTestStack('openstack-clients');
    ({ stack, endpoint } = running);
  });
  afterAll(() => running?.stop());

  it('openstack console log show prints the whole console output, by UUID and by name', async () => {
    const whole = expected('web-1', null);
    expect(whole.split('\n').length).toBeGreaterThan(100);
    for (const ref of [server('web-1').id, 'web-1']) {
      const res = await openstack(endpoint, demo, ['console', 'log', 'show', ref]);
      expect(res, res.stderr).toMatchObject({ code: 0 });
      expect(res.stdout).toBe(openstackPrints(whole));
    }
  });

  it('openstack console log show --lines 5 prints exactly Nova\'s last 5 "lines"', async () => {
    const five = expected('web-1', 5);
    // The log ends with a newline, so Nova's last 5 items are 4 lines and the empty string after them.
    expect(five.split('\n')).toHaveLength(5);
    expect(five.split('\n').at(-1)).toBe('');
    for (const ref of [server('web-1').id, 'web-1']) {
      const res = await openstack(endpoint, demo, ['console', 'log', 'show', '--lines', '5', ref]);
      expect(res, res.stderr).toMatchObject({ code: 0 });
      expect(res.stdout).toBe(openstackPrints(five));
    }
  });

  it('openstack console log show --lines 0 and --lines 1 print nothing (Nova\'s formula)', async () => {
    for (const lines of ['0', '1']) {
      const res = await openstack(endpoint, demo, ['console', 'log', 'show', '--lines', lines, 'web-1']);
      expect(res, res.stderr).toMatchObject({ code: 0, stdout: openstackPrints(expected('web-1', Number(lines))) });
      expect(res.stdout).toBe('');
    }
  });

  it('nova console-log prints the output (length sent as a string or null), by UUID and by name', async () => {
    for (const ref of [server('web-1').id, 'web-1']) {
      const all = await nova(endpoint, demo, ['console-log', ref]);
      expect(all, all.stderr).toMatchObject({ code: 0 });
      expect(all.stdout).toBe(novaPrints(expected('web-1', null)));

      const five = await nova(endpoint, demo, ['console-log', '--length', '5', ref]);
      expect(five, five.stderr).toMatchObject({ code: 0 });
      expect(five.stdout).toBe(novaPrints(expected('web-1', 5)));
    }
  });

  it('db-1 (rotated logs): the output runs from the oldest backup to the end of console.log', async () => {
    const dir = join(stack.instancesDir, server('db-1').id);
    const files = ['console.log.2', 'console.log.1', 'console.log.0', 'console.log'].map((f) => readFileSync(join(dir, f)));
    // The captured set is smaller than Nova's window, so all of it comes back, oldest first.
    const window = consoleWindow(dir);
    expect(window).toEqual(Buffer.concat(files));
    const res = await openstack(endpoint, demo, ['console', 'log', 'show', 'db-1']);
    expect(res, res.stderr).toMatchObject({ code: 0, stdout: openstackPrints(novaConsoleOutput(window, null)) });
    expect(res.stdout.endsWith(novaConsoleOutput(files.at(-1)!, null))).toBe(true);

    const tail = await nova(endpoint, demo, ['console-log', '--length', '3', 'db-1']);
    expect(tail, tail.stderr).toMatchObject({ code: 0, stdout: novaPrints(novaConsoleOutput(window, 3)) });
  });

  it('db-1 with more backups than fit: exactly the last 100 KiB, cut inside an old backup', async () => {
    const dir = join(stack.instancesDir, server('db-1').id);
    // Older backups of real boot output, as virtlogd with a larger max_backups would keep.
    const boot = readFileSync(join(stack.instancesDir, server('web-1').id, 'console.log'));
    for (const n of [3, 4, 5, 6]) await writeFile(join(dir, `console.log.${n}`), boot);
    const onDisk = readdirSync(dir).filter((f) => f.startsWith('console.log')).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
    expect(onDisk).toBeGreaterThan(NOVA_WINDOW_BYTES);
    const window = consoleWindow(dir);
    expect(window.length).toBe(NOVA_WINDOW_BYTES);

    const res = await openstack(endpoint, demo, ['console', 'log', 'show', 'db-1']);
    expect(res, res.stderr).toMatchObject({ code: 0 });
    expect(res.stdout).toBe(openstackPrints(novaConsoleOutput(window, null)));
    expect(res.stdout.endsWith(novaConsoleOutput(readFileSync(join(dir, 'console.log')), null))).toBe(true);

    const tail = await nova(endpoint, demo, ['console-log', '--length', '2000', 'db-1']);
    expect(tail, tail.stderr).toMatchObject({ code: 0, stdout: novaPrints(novaConsoleOutput(window, 2000)) });
  });

  it('openstack server show prints id, name and status, by UUID and by name', async () => {
    const web = server('web-1');
    const table = await openstack(endpoint, demo, ['server', 'show', web.id]);
    expect(table, table.stderr).toMatchObject({ code: 0 });
    expect(table.stdout).toMatch(new RegExp(`^\\| id\\s+\\| ${web.id}\\s+\\|$`, 'm'));
    expect(table.stdout).toMatch(/^\| name\s+\| web-1\s+\|$/m);
    expect(table.stdout).toMatch(/^\| status\s+\| ACTIVE\s+\|$/m);

    const json = await openstack(endpoint, demo, ['server', 'show', '-f', 'json', 'batch-7']);
    expect(json, json.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(json.stdout)).toMatchObject({ id: server('batch-7').id, name: 'batch-7', status: 'SHUTOFF' });
  });

  it('server lists: both clients list the project\'s servers and nothing of other projects', async () => {
    const mine = ['batch-7', 'db-1', 'web-1'];
    const nv = await nova(endpoint, demo, ['list']);
    expect(nv, nv.stderr).toMatchObject({ code: 0 });
    for (const name of mine) expect(nv.stdout).toMatch(new RegExp(`^\\| ${server(name).id} \\| ${name}\\s+\\|`, 'm'));
    expect(nv.stdout).not.toContain('ops-bastion');

    // openstack server list reads flavor.id of every server below microversion 2.47.
    const os = await openstack(endpoint, demo, ['server', 'list', '-f', 'json', '-c', 'ID', '-c', 'Name', '-c', 'Status']);
    expect(os, os.stderr).toMatchObject({ code: 0 });
    const listed = (JSON.parse(os.stdout) as Array<{ ID: string; Name: string; Status: string }>).map((s) => s.Name).sort();
    expect(listed).toEqual(mine);
  });

  it('admin tokens: the admin project lists only its own servers by name, as in Nova; admin:demo finds web-1', async () => {
    const adminByName = await openstack(endpoint, admin, ['server', 'show', 'web-1']);
    expect(adminByName).toMatchObject({ code: 1, stdout: '' });
    expect(adminByName.stderr.trim()).toBe("No server with a name or ID of 'web-1' exists.");

    const adminInDemo = await openstack(endpoint, { token: 'admin:demo' }, ['server', 'show', '-f', 'json', 'web-1']);
    expect(adminInDemo, adminInDemo.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(adminInDemo.stdout)).toMatchObject({ id: server('web-1').id, name: 'web-1', status: 'ACTIVE' });
  });

  it('an unknown server: both clients say it does not exist (random UUID and unknown name)', async () => {
    const id = randomUUID();
    for (const ref of [id, 'no-such-server']) {
      const os = await openstack(endpoint, demo, ['console', 'log', 'show', ref]);
      expect(os).toMatchObject({ code: 1, stdout: '' });
      expect(os.stderr.trim()).toBe(`No Server found for ${ref}`);

      const nv = await nova(endpoint, demo, ['console-log', ref]);
      expect(nv).toMatchObject({ code: 1, stdout: '' });
      expect(nv.stderr).toContain(`ERROR (CommandError): No server with a name or ID of '${ref}' exists.`);
    }
  });

  it("another project's server looks exactly like an unknown one", async () => {
    const bastion = server('ops-bastion');
    for (const [ref, unknown] of [[bastion.id, randomUUID()], ['ops-bastion', 'ops-bastion-x']] as const) {
      const theirs = await openstack(endpoint, demo, ['console', 'log', 'show', ref]);
      const missing = await openstack(endpoint, demo, ['console', 'log', 'show', unknown]);
      expect(theirs.code).toBe(1);
      expect(theirs.code).toBe(missing.code);
      expect(theirs.stderr.replaceAll(ref, 'S')).toBe(missing.stderr.replaceAll(unknown, 'S'));

      const novaTheirs = await nova(endpoint, demo, ['console-log', ref]);
      const novaMissing = await nova(endpoint, demo, ['console-log', unknown]);
      expect(novaTheirs.code).toBe(1);
      expect(novaTheirs.stderr.replaceAll(ref, 'S')).toBe(novaMissing.stderr.replaceAll(unknown, 'S'));
    }
    // The owner's project sees it.
    const ops = await openstack(endpoint, { token: 'ops:ops' }, ['console', 'log', 'show', '--lines', '2', 'ops-bastion']);
    expect(ops, ops.stderr).toMatchObject({ code: 0, stdout: openstackPrints(expected('ops-bastion', 2)) });
  });

  it('nova console-log --length abc reaches the server and prints its 400 message', async () => {
    const res = await nova(endpoint, demo, ['console-log', '--length', 'abc', 'web-1']);
    expect(res).toMatchObject({ code: 1, stdout: '' });
    expect(res.stderr).toMatch(/^ERROR \(BadRequest\): Invalid input for field\/attribute length\. Value: abc\. 'abc' does not match '\^-\?\[0-9\]\+\$' \(HTTP 400\) \(Request-ID: req-[0-9a-f-]{36}\)$/m);

    const below = await nova(endpoint, demo, ['console-log', '--length', '-2', 'web-1']);
    expect(below).toMatchObject({ code: 1, stdout: '' });
    expect(below.stderr).toMatch(/^ERROR \(BadRequest\): Invalid input for field\/attribute length\. Value: -2\. '?-2'? is less than the minimum of -1 \(HTTP 400\)/m);
  });

  it('nova console-log --length -1 keeps Nova\'s quirk: everything but the first line', async () => {
    const res = await nova(endpoint, demo, ['console-log', '--length', '-1', 'web-1']);
    expect(res, res.stderr).toMatchObject({ code: 0, stdout: novaPrints(expected('web-1', -1)) });
  });

  it('openstack console log show rejects --lines -5 and --lines abc itself, sending nothing', async () => {
    // Nothing listens on the discard port: any request would end in a connection error instead.
    const nowhere = 'http://127.0.0.1:9/v2.1';
    const negative = await openstack(nowhere, demo, ['console', 'log', 'show', '--lines', '-5', 'web-1']);
    expect(negative).toMatchObject({ code: 1, stdout: '' });
    expect(negative.stderr.trim()).toBe('--lines expected a non-negative integer');

    const word = await openstack(nowhere, demo, ['console', 'log', 'show', '--lines', 'abc', 'web-1']);
    expect(word).toMatchObject({ code: 2, stdout: '' });
    expect(word.stderr).toContain("openstack console log show: error: argument --lines: invalid int value: 'abc'");
  });

  it('no token: openstack sends "notused", a project that sees nothing of project demo', async () => {
    const byName = await openstack(endpoint, 'none', ['console', 'log', 'show', 'web-1']);
    expect(byName).toMatchObject({ code: 1, stdout: '' });
    expect(byName.stderr.trim()).toBe('No Server found for web-1');

    const id = server('web-1').id;
    const byId = await openstack(endpoint, 'none', ['server', 'show', id]);
    expect(byId).toMatchObject({ code: 1, stdout: '' });
    // server show resolves through osc's own lookup, which words it like novaclient.
    expect(byId.stderr.trim()).toBe(`No server with a name or ID of '${id}' exists.`);

    const novaNone = await nova(endpoint, 'none', ['console-log', 'web-1']);
    expect(novaNone.code).toBe(1);
    expect(novaNone.stderr).toContain("No server with a name or ID of 'web-1' exists.");
  });

  it('the admin token sees every project', async () => {
    const bastion = server('ops-bastion');
    const show = await openstack(endpoint, admin, ['server', 'show', '-f', 'json', bastion.id]);
    expect(show, show.stderr).toMatchObject({ code: 0 });
    expect(JSON.parse(show.stdout)).toMatchObject({ id: bastion.id, name: 'ops-bastion', status: 'ACTIVE' });

    const log = await openstack(endpoint, admin, ['console', 'log', 'show', '--lines', '5', bastion.id]);
    expect(log, log.stderr).toMatchObject({ code: 0, stdout: openstackPrints(expected('ops-bastion', 5)) });
  });
});
