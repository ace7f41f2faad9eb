/**
 * The serial hub (lib/console/serial-hub.ts): one chardev connection shared by every viewer. The
 * chardev here is a loopback TCP server that, like QEMU's socket chardev, serves one client at a
 * time; the real QEMU chardev is exercised in test/system/libvirt-remote-consoles.test.ts.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerialHubs, type SerialTarget, type SerialViewer } from '../../lib/console/serial-hub.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

interface Chardev {
  server: Server;
  port: number;
  /** Every client it accepted, in order. */
  clients: Socket[];
  current(): Socket | undefined;
  input(): string;
}

/** One client at a time, as QEMU's tcp chardev: a second connection waits until the first leaves. */
async function startChardev(port = 0): Promise<Chardev> {
  const clients: Socket[] = [];
  let input = '';
  const server = createServer({ pauseOnConnect: false }, (socket) => {
    clients.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (d) => (input += d.toString('latin1')));
  });
  server.maxConnections = 1;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    clients,
    current: () => clients.filter((c) => !c.destroyed).at(-1),
    input: () => input,
  };
}

function viewer(name: string) {
  const state = { name, got: '', buffered: 0, dropped: undefined as string | undefined, resumed: 0 };
  const v: SerialViewer = {
    send: (chunk) => (state.got += chunk.toString('latin1')),
    buffered: () => state.buffered,
    drop: (reason) => (state.dropped = reason),
    resumeInput: () => state.resumed++,
  };
  return { v, state };
}

describe('the serial hub', () => {
  let chardev: Chardev;
  let hubs: SerialHubs;
  const target = (verify: () => Promise<boolean> = async () => true): SerialTarget => ({ key: 'srv@127.0.0.1', host: '127.0.0.1', port: chardev.port, verify });

  beforeEach(async () => {
    chardev = await startChardev();
    hubs = new SerialHubs({ replayBytes: 16, viewerCapBytes: 1_000, lingerMs: 200, giveUpMs: 3_000 });
  });
  afterEach(async () => {
    hubs.stop();
    for (const c of chardev.clients) c.destroy();
    chardev.server.close();
  });

  it('shares one chardev connection: every viewer sees the output, a late one gets the recent output first, every viewer can type', async () => {
    const a = viewer('a');
    const b = viewer('b');
    const ia = await hubs.attach(target(), a.v);
    await waitFor(() => chardev.current() !== undefined, 5_000, 'the hub to connect');
    chardev.current()!.write('0123456789abcdefghij');
    await waitFor(() => a.state.got.length === 20, 5_000, 'output at a');
    const ib = await hubs.attach(target(), b.v);
    // The replay is the last 16 bytes: what a viewer joining late sees before the live output.
    expect(b.state.got).toBe('456789abcdefghij');
    chardev.current()!.write('\r\n$ ');
    await waitFor(() => a.state.got.endsWith('\r\n$ ') && b.state.got.endsWith('\r\n$ '), 5_000, 'live output at both');
    ia.write(Buffer.from('ec'));
    ib.write(Buffer.from('ho\n'));
    await waitFor(() => chardev.input() === 'echo\n', 5_000, 'input from both viewers at the chardev');
    expect(chardev.clients).toHaveLength(1);
    expect(hubs.viewers()).toEqual(new Map([['srv@127.0.0.1', 2]]));
  });

  it('drops a viewer that is not reading, and keeps the other one going without waiting', async () => {
    const slow = viewer('slow');
    const fast = viewer('fast');
    await hubs.attach(target(), slow.v);
    await hubs.attach(target(), fast.v);
    await waitFor(() => chardev.current() !== undefined, 5_000, 'the hub to connect');
    slow.state.buffered = 990;
    chardev.current()!.write('x'.repeat(20));
    await waitFor(() => slow.state.dropped !== undefined, 5_000, 'the slow viewer to be dropped');
    expect(slow.state.dropped).toMatch(/not reading fast enough/);
    chardev.current()!.write('after');
    await waitFor(() => fast.state.got.endsWith('after'), 5_000, 'output at the fast viewer');
    expect(fast.state.dropped).toBeUndefined();
    expect(slow.state.got).toBe('');
  });

  it('lets the chardev go a while after the last viewer leaves, and a viewer within that while keeps the same connection', async () => {
    const a = viewer('a');
    const first = await hubs.attach(target(), a.v);
    await waitFor(() => chardev.current() !== undefined, 5_000, 'the hub to connect');
    first.detach();
    const again = await hubs.attach(target(), viewer('b').v);
    await sleep(400);
    expect(chardev.clients).toHaveLength(1);
    expect(chardev.current()).toBeDefined();
    again.detach();
    await waitFor(() => chardev.current() === undefined, 5_000, 'the connection to close');
    expect(hubs.viewers().size).toBe(0);
  });

  it('connects again when the chardev drops (guest restarted), asking first whether the port is still this console\'s', async () => {
    let asked = 0;
    const a = viewer('a');
    await hubs.attach(target(async () => (++asked, true)), a.v);
    await waitFor(() => chardev.current() !== undefined, 5_000, 'the hub to connect');
    chardev.current()!.destroy();
    await waitFor(() => chardev.clients.length === 2 && chardev.current() !== undefined, 5_000, 'a second connection');
    expect(asked).toBe(1);
    chardev.current()!.write('back');
    await waitFor(() => a.state.got.endsWith('back'), 5_000, 'output after the reconnect');
    expect(a.state.dropped).toBeUndefined();
  });

  it('drops its viewers when the port is no longer this console\'s, without connecting to it', async () => {
    const a = viewer('a');
    await hubs.attach(target(async () => false), a.v);
    await waitFor(() => chardev.current() !== undefined, 5_000, 'the hub to connect');
    chardev.current()!.destroy();
    await waitFor(() => a.state.dropped !== undefined, 5_000, 'the viewer to be dropped');
    expect(a.state.dropped).toMatch(/moved or is gone/);
    expect(chardev.clients).toHaveLength(1);
  });

  it('refuses to attach when the chardev cannot be reached, leaving nothing behind', async () => {
    chardev.server.close();
    await once(chardev.server, 'close');
    await expect(hubs.attach(target(), viewer('a').v)).rejects.toThrow(/ECONNREFUSED/);
    await waitFor(() => hubs.viewers().size === 0, 2_000, 'the hub to be forgotten');
  });
});
