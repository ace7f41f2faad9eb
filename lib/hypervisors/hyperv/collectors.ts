import { join } from 'node:path';
import type { Logger } from '../../logger.ts';
import { CappedLogWriter, QueueBudget } from './capped-log-writer.ts';
import { pipePath, type HyperVVm, type LogPipe } from './list-vms.ts';
import { SerialPipeCollector, type Backoff } from './serial-pipe-collector.ts';

export interface CollectorsOptions {
  instancesDir: string;
  pipePathTemplate: string;
  logCapBytes: number;
  logger: Logger;
  backoff?: Backoff;
}

/**
 * Where a VM's console log of a port lives: port 0 is Nova's `<instances dir>/<instance
 * name>/console.log`, port n `console-n.log` beside it (the files driver's naming).
 */
export function consoleLogPath(instancesDir: string, vm: HyperVVm, port = 0): string {
  return join(instancesDir, vm.logDir, port === 0 ? 'console.log' : `console-${port}.log`);
}

/** A logged COM port: its port number in console logs and its pipe. */
export interface LoggedPort {
  port: number;
  /** `COM1`, `COM2` from Hyper-V's `COM 1`, `COM 2`; null for a name not of that form (never passed on as given). */
  name: string | null;
  pipe: LogPipe;
}

/**
 * Every COM port a VM logs. Port 0 stays Nova's console log (the `ro` pipe, else the first `rw`
 * one), so console.log and the Nova API read what they read before; the other COM pipes follow
 * in COM order as ports 1, 2. None for a shielded VM.
 */
export function loggedPorts(vm: HyperVVm): LoggedPort[] {
  if (vm.secure || !vm.logPipe) return [];
  const first = vm.logPipe;
  const rest = vm.pipes.filter((p) => p.comPort !== first.comPort);
  return [first, ...rest].map((pipe, port) => {
    const com = /^COM ?([0-9])$/i.exec(pipe.comPort)?.[1];
    return { port, name: com === undefined ? null : `COM${com}`, pipe };
  });
}

/**
 * One collector per (VM, logged COM port), following each listing. A running VM's collector
 * reads its pipe; a stopped VM's collector is armed: it waits for the pipe to appear (a retry
 * every few seconds, Backoff.idleMs), so a VM started between two listings is collected within
 * that, not from the next listing on (Hyper-V drops output while no client holds the pipe: a
 * guest that panics at boot would otherwise leave nothing), and at once when a listing sees it
 * run. A VM that goes, loses its pipe or becomes shielded has its collector stopped; one whose
 * pipe or log place changed gets a new one, started only once the old one has closed its log
 * (two writers never append to one file). Shielded VMs are never collected, as in Nova. The
 * writers share one queue budget, so many flooding VMs cost no more memory than a few.
 */
export class Collectors {
  readonly #options: CollectorsOptions;
  readonly #running = new Map<string, SerialPipeCollector>();
  /** Collectors being stopped, by key (VM id and port): a replacement waits for its predecessor. */
  readonly #stopping = new Map<string, Promise<void>>();
  /** What all the writers may queue together, however many VMs flood at once. */
  readonly budget = new QueueBudget();

  constructor(options: CollectorsOptions) {
    this.#options = options;
  }

  /** The collector writing this VM's log of a port now, if any. */
  for(vm: HyperVVm, port = 0): SerialPipeCollector | undefined {
    return this.#running.get(key(vm.vmId, port));
  }

  /** The collector reading this pipe now, if any (the serial console shares its connection). */
  forPipe(vm: HyperVVm, path: string): SerialPipeCollector | undefined {
    for (const { port } of loggedPorts(vm)) {
      const collector = this.for(vm, port);
      if (collector?.pipePath === path) return collector;
    }
    return undefined;
  }

  /** Pending stops (a read of a VM just stopped waits for its last bytes to be written). */
  stopping(vm: HyperVVm, port = 0): Promise<void> | undefined {
    return this.#stopping.get(key(vm.vmId, port));
  }

  get size(): number {
    return this.#running.size;
  }

  follow(vms: readonly HyperVVm[]): void {
    const wanted = new Map<string, { vm: HyperVVm; com: string; pipe: string; log: string }>();
    for (const vm of vms) {
      for (const { port, name, pipe } of loggedPorts(vm)) {
        wanted.set(key(vm.vmId, port), { vm, com: name ?? String(port), pipe: pipePath(this.#options.pipePathTemplate, pipe), log: consoleLogPath(this.#options.instancesDir, vm, port) });
      }
    }
    for (const [id, collector] of this.#running) {
      const want = wanted.get(id);
      if (want && want.pipe === collector.pipePath && want.log === collector.writer.rotation.files[0]) {
        collector.pipeExpected = want.vm.pipesUp;
        continue;
      }
      this.#stop(id, collector);
    }
    for (const [id, { vm, com, pipe, log }] of wanted) {
      if (this.#running.has(id)) continue;
      const collector = new SerialPipeCollector({
        pipePath: pipe,
        writer: new CappedLogWriter(log, { capBytes: this.#options.logCapBytes, budget: this.budget }),
        logger: this.#options.logger,
        label: `${vm.vmName} (${vm.serverId}) ${com}`,
        ...(this.#options.backoff && { backoff: this.#options.backoff }),
      });
      collector.pipeExpected = vm.pipesUp;
      this.#running.set(id, collector);
      const before = this.#stopping.get(id) ?? Promise.resolve();
      void before.then(() => {
        if (this.#running.get(id) === collector) collector.start();
      });
    }
  }

  async stopAll(): Promise<void> {
    for (const [id, collector] of this.#running) this.#stop(id, collector);
    await Promise.all(this.#stopping.values());
  }

  #stop(id: string, collector: SerialPipeCollector): void {
    this.#running.delete(id);
    const previous = this.#stopping.get(id) ?? Promise.resolve();
    const done = previous.then(() => collector.stop()).catch((err) => {
      this.#options.logger.warn('console collector did not stop cleanly', { collector: id, error: (err as Error).message });
    });
    this.#stopping.set(id, done);
    void done.then(() => {
      if (this.#stopping.get(id) === done) this.#stopping.delete(id);
    });
  }
}

function key(vmId: string, port: number): string {
  return `${vmId}#${port}`;
}
