import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import { readLogWindow } from '../../console/read-log-window.ts';
import { hypervRotation, type RotatedLog } from '../../console/rotated-log.ts';
import { VmconsoleError } from '../../errors.ts';
import { createLogger, type Logger } from '../../logger.ts';
import type { ConsoleEndpoint, ConsoleLog, DiscoveredServer, DriverEvent, HypervisorDriver, RemoteConsoleProtocol, ServerHandle } from '../driver.ts';
import { DEFAULT_LOG_CAP_BYTES } from './capped-log-writer.ts';
import { Collectors, consoleLogPath, loggedPorts } from './collectors.ts';
import { pipePath, type HyperVVm } from './list-vms.ts';
import type { Backoff } from './serial-pipe-collector.ts';
import { VmInventory } from './vm-inventory.ts';

export const DEFAULT_PIPE_PATH_TEMPLATE = '\\\\.\\pipe\\{uuid}_{type}';
export const DEFAULT_POLL_MS = 10_000;
const UNASSIGNED = 'unassigned';

export interface HyperVDriverOptions {
  /** VMCONSOLE_POWERSHELL. */
  powershell: string;
  /** VMCONSOLE_HYPERV_PIPE_PATH: where a VM's pipe is connected to ({uuid}, {type}, {name}). */
  pipePathTemplate?: string;
  /** Nova's instances_path: console logs go to `<instancesDir>/<instance name>/console.log`. */
  instancesDir: string;
  /** Directories console logs may be read from; anything else is refused. */
  roots: readonly string[];
  logCapBytes?: number;
  pollMs?: number;
  /**
   * Whether the agent collects the pipes (default). Off for a host where nova-compute's own
   * serial console handler (compute-hyperv) still runs: a pipe serves one client, and two writers
   * of one console.log would corrupt it, so the agent then only reads the logs Nova writes
   * (Nova's instance dir is the VM name, which is where they are looked for).
   */
  collect?: boolean;
  powershellTimeoutMs?: number;
  backoff?: Backoff;
  logger?: Logger;
}

/**
 * Hyper-V, shaped like Nova's Hyper-V driver: a facade whose methods each hand over to one part.
 * VmInventory lists VMs with a fixed PowerShell script (and keeps the last good list when
 * PowerShell fails); Collectors keeps one serial pipe collector per logged COM port of a VM writing its
 * console log with rotation; reading is the shared window reader over `console.log.1` +
 * `console.log`, run while the VM's writer is flushed and held (Nova read without flushing).
 */
export class HyperVDriver implements HypervisorDriver {
  readonly kind = 'hyperv' as const;
  readonly #options: HyperVDriverOptions;
  readonly #inventory: VmInventory;
  readonly #collectors: Collectors;
  readonly #subscribers = new Set<(event: DriverEvent) => void>();
  /** Collectors run only between start() and stop(): `--check` lists VMs without touching a pipe. */
  #started = false;
  readonly #collect: boolean;
  readonly #pipeTemplate: string;

  constructor(options: HyperVDriverOptions) {
    this.#options = options;
    this.#collect = options.collect ?? true;
    this.#pipeTemplate = options.pipePathTemplate ?? DEFAULT_PIPE_PATH_TEMPLATE;
    const logger = options.logger ?? createLogger('vmconsole-hyperv-driver');
    this.#collectors = new Collectors({
      instancesDir: options.instancesDir,
      pipePathTemplate: options.pipePathTemplate ?? DEFAULT_PIPE_PATH_TEMPLATE,
      logCapBytes: options.logCapBytes ?? DEFAULT_LOG_CAP_BYTES,
      logger,
      ...(options.backoff && { backoff: options.backoff }),
    });
    this.#inventory = new VmInventory({
      executable: options.powershell,
      ...(options.powershellTimeoutMs !== undefined && { timeoutMs: options.powershellTimeoutMs }),
      pollMs: options.pollMs ?? DEFAULT_POLL_MS,
      logger,
      onList: (vms) => {
        if (this.#started && this.#collect) this.#collectors.follow(vms);
      },
      onEvent: (event) => {
        for (const subscriber of this.#subscribers) subscriber(event);
      },
    });
  }

  /** The first listing and the collectors of the VMs running now; then a listing every pollMs. */
  start(): Promise<void> {
    this.#started = true;
    const known = this.#inventory.known;
    if (known && this.#collect) this.#collectors.follow([...known.values()]);
    return this.#inventory.start();
  }

  async stop(): Promise<void> {
    this.#started = false;
    await this.#inventory.stop();
    await this.#collectors.stopAll();
  }

  /**
   * The last good listing. Only when no listing ever worked is this asked of PowerShell now, and
   * its failure thrown: an empty answer would make the agent drop every server of this host from
   * the directory.
   */
  async listServers(): Promise<DiscoveredServer[]> {
    if (!this.#inventory.known) await this.#inventory.refresh();
    return [...this.#inventory.known!.values()].map((vm) => ({
      id: vm.serverId,
      name: vm.name,
      projectId: vm.projectId ?? UNASSIGNED,
      userId: vm.userId ?? UNASSIGNED,
      state: vm.state,
      instanceName: vm.vmName.slice(0, 255),
    }));
  }

  /**
   * By server id, from the last listing (a server this driver listed is one it can name). A
   * stopped VM still answers with the log on disk; a shielded VM or one without a serial pipe has
   * no console log (404, as in Nova). The window is the caller's: the agent asks for Nova's
   * 100 KiB; the two files hold at most twice the cap.
   */
  async readConsoleLog(server: ServerHandle, window: number, signal?: AbortSignal): Promise<Buffer> {
    const vm = this.#inventory.known?.get(server.id.toLowerCase());
    if (!vm) {
      throw new VmconsoleError('ServerNotFound', 'the server is not on this host', { detail: `no Hyper-V VM with server id ${server.id} in the last listing` });
    }
    if (vm.secure) {
      throw new VmconsoleError('NoConsole', 'Shielded or encrypted VMs have no serial console log.', { detail: `VM ${vm.vmId} is shielded or encrypts its state` });
    }
    if (!vm.logPipe) {
      throw new VmconsoleError('NoConsole', 'This server has no console log.', { detail: `VM ${vm.vmId} has no COM port connected to a named pipe` });
    }
    signal?.throwIfAborted();
    return this.#read(vm, window);
  }

  /**
   * The collector's `console.log` and its `.1` under the VM's instance directory (Nova's own when
   * collection is off); none for a shielded VM or one without a serial pipe.
   */
  async consoleLogSet(server: ServerHandle): Promise<RotatedLog | undefined> {
    const vm = this.#inventory.known?.get(server.id.toLowerCase());
    if (!vm) {
      throw new VmconsoleError('ServerNotFound', 'the server is not on this host', { detail: `no Hyper-V VM with server id ${server.id} in the last listing` });
    }
    if (vm.secure || !vm.logPipe) return undefined;
    return hypervRotation(consoleLogPath(this.#options.instancesDir, vm));
  }

  /**
   * Every logged COM port, named `COM1`, `COM2`: port 0 is consoleLogSet's (the `ro` pipe, else
   * the `rw` one), the other COM pipes follow as ports 1, 2 in `console-<port>.log`. With
   * collection off only port 0: nova-compute's handler writes console.log alone.
   */
  async consoleLogs(server: ServerHandle): Promise<ConsoleLog[]> {
    const vm = this.#inventory.known?.get(server.id.toLowerCase());
    if (!vm) {
      throw new VmconsoleError('ServerNotFound', 'the server is not on this host', { detail: `no Hyper-V VM with server id ${server.id} in the last listing` });
    }
    return loggedPorts(vm).filter(({ port }) => this.#collect || port === 0).map(({ port, name }) => ({ port, name, log: hypervRotation(consoleLogPath(this.#options.instancesDir, vm, port)) }));
  }

  /**
   * The interactive serial console: the VM's `rw` COM pipe (VMCONSOLE_HYPERV_PIPE_PATH from the
   * listing, never from a request), its COM number as the port. When that pipe is also the log's
   * (no `ro` pipe), the collector holds its one client connection and the console shares it, so
   * the log keeps being written while viewers type; otherwise the console opens the pipe itself.
   * Hyper-V has no VNC or SPICE (Nova: console type unavailable). None for a shielded VM, one
   * without an `rw` pipe, or one not running.
   */
  async consoleEndpoint(server: ServerHandle, protocol: RemoteConsoleProtocol): Promise<ConsoleEndpoint | undefined> {
    const vm = this.#inventory.known?.get(server.id.toLowerCase());
    if (!vm) {
      throw new VmconsoleError('ServerNotFound', 'the server is not on this host', { detail: `no Hyper-V VM with server id ${server.id} in the last listing` });
    }
    if (protocol !== 'serial') {
      throw new VmconsoleError('NoConsole', `Hyper-V servers have no ${protocol === 'vnc' ? 'VNC' : 'SPICE'} console.`, { detail: `VM ${vm.vmId}: Hyper-V serves only serial remote consoles` });
    }
    const pipe = vm.consolePipe;
    if (vm.secure || !pipe || !vm.pipesUp) return undefined;
    const path = pipePath(this.#pipeTemplate, pipe);
    return { address: undefined, port: pipe.com, tlsPort: null, stream: { id: path, open: () => this.#openConsole(server, path) } };
  }

  /**
   * A share of the collector's connection when it logs this pipe (or none now: it fails, the hub
   * retries); else the pipe itself. Judged from the listing at each (re)connect.
   */
  #openConsole(server: ServerHandle, path: string): Duplex {
    const vm = this.#inventory.known?.get(server.id.toLowerCase());
    if (!vm) return unreachable('the VM is no longer listed');
    const logged = this.#collect && loggedPorts(vm).some(({ pipe }) => pipePath(this.#pipeTemplate, pipe) === path);
    if (!logged) return connect({ path });
    const collector = this.#collectors.forPipe(vm, path);
    if (collector) return collector.share();
    // Never open a logged pipe past its collector (being replaced, or not connected yet): it would
    // take the pipe's one client slot and stop the log.
    return unreachable('the console pipe\'s collector is not connected');
  }

  watch(onEvent: (event: DriverEvent) => void, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.#subscribers.add(onEvent);
    signal.addEventListener('abort', () => this.#subscribers.delete(onEvent), { once: true });
  }

  async #read(vm: HyperVVm, window: number): Promise<Buffer> {
    const files = hypervRotation(consoleLogPath(this.#options.instancesDir, vm)).files;
    const read = () => readLogWindow(files, window, this.#options.roots);
    // A collector just stopped (the VM went, or its replacement waits for it) may still be
    // writing its last bytes and rotating: the read waits for it to close its log first.
    await this.#collectors.stopping(vm);
    const collector = this.#collectors.for(vm);
    if (collector) return collector.writer.whileHeld(read);
    return read();
  }
}

/** A console stream that fails as a pipe that cannot be opened does ('error', then 'close'). */
function unreachable(reason: string): Duplex {
  const none = new Duplex({ read: () => undefined, write: (_chunk, _encoding, done) => done() });
  process.nextTick(() => none.destroy(new Error(reason)));
  return none;
}
