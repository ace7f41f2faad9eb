/**
 * A test Hyper-V host on Linux: a real Unix socket server standing in for each VM serial port's
 * named pipe (Node's `net` connects to both alike), and a real subprocess standing in for
 * powershell.exe that prints the VM list this host holds. VMs start, stop, restart and break
 * their pipes like Hyper-V's do; every byte a pipe delivered is kept, so tests can compare the
 * console log with exactly what the guest sent.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const STAND_IN = fileURLToPath(new URL('./powershell-stand-in.cjs', import.meta.url));

/**
 * `n` bytes of 9-byte records, each its own offset (`%08d\n`): any piece of 18 bytes or more
 * occurs once, so a test can tell where a piece of log came from and whether bytes were lost,
 * doubled or reordered.
 */
export function numberedStream(n: number, from = 0): Buffer {
  const first = Math.floor(from / 9) * 9;
  const out = Buffer.alloc(n + (from - first) + 9);
  let at = 0;
  for (let offset = first; at < out.length; offset += 9, at += 9) out.write(`${String(offset).padStart(8, '0')}\n`, at, 'latin1');
  return out.subarray(from - first, from - first + n);
}

/** Where `piece` starts in `stream`, or -1. */
export const locate = (stream: Buffer, piece: Buffer): number => (piece.length === 0 ? 0 : stream.indexOf(piece));

/**
 * One VM serial port's named pipe. Hyper-V serves it while the VM runs, to one client at a time;
 * output sent while no client is connected is lost, as a UART's is. `delivered` holds every byte
 * a connected client was handed (written and acknowledged by the kernel before any break).
 */
export class FakeSerialPipe {
  readonly path: string;
  #server: Server | undefined;
  #client: Socket | undefined;
  #delivered: Buffer[] = [];
  #received: Buffer[] = [];
  connections = 0;
  /** Clients turned away because another one held the pipe. */
  refused = 0;

  constructor(path: string) {
    this.path = path;
  }

  get delivered(): Buffer {
    return Buffer.concat(this.#delivered);
  }

  /** Every byte clients wrote to the pipe (what a guest's UART would read: typing on an `rw` pipe). */
  get received(): Buffer {
    return Buffer.concat(this.#received);
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  get connected(): boolean {
    return this.#client !== undefined && !this.#client.destroyed;
  }

  async open(): Promise<void> {
    if (this.#server) return;
    rmSync(this.path, { force: true });
    const server = createServer((socket) => {
      if (this.connected) {
        this.refused++;
        socket.destroy(); // one client per pipe instance, like a Hyper-V COM pipe
        return;
      }
      this.connections++;
      this.#client = socket;
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (this.#client === socket) this.#client = undefined;
      });
      socket.on('data', (bytes: Buffer) => this.#received.push(bytes));
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.path, resolve));
    this.#server = server;
  }

  /**
   * Sends `bytes` to the connected client; resolves true once the kernel has them (then they
   * count as delivered), false when nobody is connected (the bytes are lost, as on a real port).
   */
  send(bytes: Buffer): Promise<boolean> {
    const client = this.#client;
    if (!client || client.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      client.write(bytes, (err) => {
        if (err) return resolve(false);
        this.#delivered.push(Buffer.from(bytes));
        resolve(true);
      });
    });
  }

  /** Sends everything, waiting for a client whenever none is connected; resolves once all of it was delivered. */
  async sendAll(bytes: Buffer, chunk = 4096): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      const piece = bytes.subarray(at, at + chunk);
      if (await this.send(piece)) at += piece.length;
      else await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Another client (nova-compute's own handler, a debugging session) holds the pipe until `release`. */
  async holdByAnother(): Promise<{ release(): void }> {
    const other = connect(this.path);
    other.on('error', () => undefined);
    await new Promise<void>((resolve) => other.once('connect', resolve));
    return { release: () => other.destroy() };
  }

  /** The pipe breaks under the reader (the collector must reconnect); the server stays. */
  breakConnection(): void {
    this.#client?.destroy();
    this.#client = undefined;
  }

  /** The VM stopped: the pipe is gone. */
  async close(): Promise<void> {
    this.#client?.destroy();
    this.#client = undefined;
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}

export type PipeType = 'ro' | 'rw';

export interface TestVmSpec {
  name: string;
  /** Nova's instance UUID, written to the VM's notes; omit for a VM Nova did not create. */
  instanceUuid?: string | null;
  /** Extra notes lines after the UUID. */
  notesExtra?: string[];
  running?: boolean;
  /** Serial ports by COM number; Nova's `<uuid>_ro`/`_rw` pipes unless a path is given. */
  ports?: { number: 1 | 2; type?: PipeType; path?: string }[];
  secure?: boolean;
}

/** One VM of the test host: its recorded Get-VM entry and its pipes. */
export interface TestVm {
  readonly id: string;
  readonly name: string;
  readonly serverId: string;
  pipe(type: PipeType): FakeSerialPipe;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stop and start again (the pipes disappear and come back, with a new connection). */
  restart(): Promise<void>;
}

/** The state the PowerShell stand-in reads on each call. */
interface StandInState {
  mode: 'ok' | 'fail' | 'garbage' | 'garbage-varying' | 'slow' | 'bytes';
  delayMs?: number;
  /** Mode 'bytes': what is printed, base64. */
  bytes?: string;
  vms: unknown[];
}

export interface TestHyperVHost {
  dir: string;
  /** The executable to give the driver as VMCONSOLE_POWERSHELL. */
  powershell: string;
  /** VMCONSOLE_HYPERV_PIPE_PATH for this host: each pipe a Unix socket under `dir`. */
  pipeTemplate: string;
  instancesDir: string;
  addVm(spec: TestVmSpec): Promise<TestVm>;
  removeVm(vm: TestVm): Promise<void>;
  /** How the stand-in answers from now on. */
  setMode(mode: StandInState['mode'], delayMs?: number): void;
  /** Replace the whole recorded list (e.g. with 1,000 VMs), keeping the mode. */
  setRawVms(vms: unknown[]): void;
  /** From now on PowerShell prints exactly `bytes` (exit code 0), whatever VMs the host holds. */
  setOutputBytes(bytes: Buffer): void;
  /** The argument vectors powershell was called with, oldest first. */
  calls(): string[][];
  stop(): Promise<void>;
}

export async function startTestHyperVHost(): Promise<TestHyperVHost> {
  const dir = await mkdtemp(join(tmpdir(), 'vmconsole-hv-'));
  const pipesDir = join(dir, 'p');
  const instancesDir = join(dir, 'instances');
  await mkdir(pipesDir);
  await mkdir(instancesDir);
  const statePath = join(dir, 'stand-in.json');
  const powershell = join(dir, 'powershell');
  writeFileSync(powershell, `#!/usr/bin/env node\nrequire(${JSON.stringify(STAND_IN)})(${JSON.stringify(statePath)});\n`);
  chmodSync(powershell, 0o755);
  const pipeTemplate = join(pipesDir, '{uuid}_{type}');

  const vms = new Map<string, { spec: Required<Pick<TestVmSpec, 'name'>> & TestVmSpec; running: boolean; pipes: Map<PipeType, FakeSerialPipe> }>();
  let state: StandInState = { mode: 'ok', vms: [] };
  let raw: unknown[] | undefined;
  const save = () => {
    const list = raw ?? [...vms.entries()].map(([id, vm]) => recordedEntry(id, vm.spec, vm.running));
    writeFileSync(statePath, JSON.stringify({ ...state, vms: list }));
  };
  save();

  const host: TestHyperVHost = {
    dir,
    powershell,
    pipeTemplate,
    instancesDir,
    async addVm(spec) {
      const id = randomUUID();
      const uuid = spec.instanceUuid === undefined ? randomUUID() : spec.instanceUuid;
      const full = { ...spec, instanceUuid: uuid, ports: spec.ports ?? [{ number: 1 as const, type: 'ro' as const }, { number: 2 as const, type: 'rw' as const }] };
      const pipes = new Map<PipeType, FakeSerialPipe>();
      for (const port of full.ports) {
        const type = port.type ?? 'rw';
        // A pipe's socket is named the way the template maps Nova's pipe name: `<uuid>_<type>`.
        pipes.set(type, new FakeSerialPipe(join(pipesDir, `${uuid ?? id}_${type}`)));
      }
      const entry = { spec: full, running: false, pipes };
      vms.set(id, entry);
      const vm: TestVm = {
        id,
        name: spec.name,
        serverId: uuid ?? id,
        pipe(type) {
          const pipe = pipes.get(type);
          if (!pipe) throw new Error(`VM ${spec.name} has no ${type} pipe`);
          return pipe;
        },
        async start() {
          entry.running = true;
          for (const pipe of pipes.values()) await pipe.open();
          save();
        },
        async stop() {
          entry.running = false;
          for (const pipe of pipes.values()) await pipe.close();
          save();
        },
        async restart() {
          for (const pipe of pipes.values()) await pipe.close();
          for (const pipe of pipes.values()) await pipe.open();
        },
      };
      if (spec.running ?? true) await vm.start();
      else save();
      return vm;
    },
    async removeVm(vm) {
      await vm.stop();
      vms.delete(vm.id);
      save();
    },
    setMode(mode, delayMs) {
      state = { ...state, mode, ...(delayMs !== undefined && { delayMs }) };
      save();
    },
    setOutputBytes(bytes) {
      state = { ...state, mode: 'bytes', bytes: bytes.toString('base64') };
      save();
    },
    setRawVms(list) {
      raw = list;
      save();
    },
    calls() {
      try {
        return readFileSync(`${statePath}.calls`, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
      } catch {
        return [];
      }
    },
    async stop() {
      for (const vm of vms.values()) for (const pipe of vm.pipes.values()) await pipe.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return host;
}

/**
 * One VM as the driver's discovery script prints it: Get-VM's Name, Id, State and Notes, the
 * security settings' two flags, and Get-VMComPort's Name and Path per port (shape recorded in
 * test/fixtures/hyperv/README.md). Ports are listed for COM 1 and COM 2 always, an unconnected
 * one with an empty Path, as Get-VMComPort lists them.
 */
export function recordedEntry(id: string, spec: TestVmSpec, running: boolean): Record<string, unknown> {
  const uuid = spec.instanceUuid;
  const notes = [uuid ?? '', ...(spec.notesExtra ?? [])].filter((l, i) => i > 0 || l !== '').join('\r\n');
  const comPorts = ([1, 2] as const).map((number) => {
    const port = spec.ports?.find((p) => p.number === number);
    const path = port ? (port.path ?? `\\\\.\\pipe\\${uuid ?? id}_${port.type ?? 'rw'}`) : '';
    return { Name: `COM ${number}`, Path: path };
  });
  return {
    Name: spec.name,
    Id: id,
    State: running ? 'Running' : 'Off',
    Notes: notes,
    Shielded: false,
    EncryptStateAndVmMigrationTraffic: spec.secure ?? false,
    ComPorts: comPorts,
  };
}
