/**
 * A REAL pseudo-terminal standing in for a guest serial console, the way QEMU exposes one: a
 * Python child opens a pty pair, puts it in raw mode (as QEMU does, so bytes pass unchanged and
 * reads are not line-buffered), writes the "guest output" it is sent to the master side, and waits
 * until the kernel has made it readable on the slave side (/dev/pts/N), which is what domain XML
 * names and what the driver drains. Python's pty module is on every machine that has python3.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

const GUEST = `
import os, pty, select, sys, tty
master, slave = pty.openpty()
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
for line in sys.stdin:
    os.write(master, bytes.fromhex(line.strip()))
    select.select([slave], [], [], 2)
    print('written', flush=True)
`;

export interface FakePtyGuest {
  ptyPath: string;
  print(data: Buffer | string): Promise<void>;
  exit(): Promise<void>;
}

export async function startFakePtyGuest(): Promise<FakePtyGuest> {
  const child: ChildProcessWithoutNullStreams = spawn('python3', ['-c', GUEST]);
  const iterator = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const { value, done } = await iterator.next();
    if (done) throw new Error('fake guest exited');
    return value as string;
  };
  const ptyPath = await nextLine();
  return {
    ptyPath,
    async print(data) {
      child.stdin.write(`${Buffer.from(data).toString('hex')}\n`);
      const ack = await nextLine();
      if (ack !== 'written') throw new Error(`fake guest answered ${ack}`);
    },
    async exit() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('close', resolve));
      child.stdin.end();
      await exited;
    },
  };
}
