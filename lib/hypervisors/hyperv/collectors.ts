import { join } from 'node:path';
import type { Logger } from '../../logger.ts';
import { CappedLogWriter, QueueBudget } from './capped-log-writer.ts';
import { pipePath, type HyperVVm } from './list-vms.ts';
import { SerialPipeCollector, type Backoff } from './serial-pipe-collector.ts';

export interface CollectorsOptions {
  instancesDir: string;
  pipePathTemplate: string;
  logCapBytes: number;
  logger: Logger;
  backoff?: Backoff;
}

/** Where a VM's console log lives: Nova's `<instances dir>/<instance name>/console.log`. */
export function consoleLogPath(instancesDir: string, vm: HyperVVm): string {
  return join(instancesDir, vm.logDir, 'console.log');
}

/**
 * One collector per VM with a serial pipe, following each listing. A running VM's collector
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
  /** Collectors being stopped, by VM id: a replacement waits for its predecessor. */
  readonly #stopping = new Map<string, Promise<void>>();
  /** What all the writers may queue together, however many VMs flood at once. */
  readonly budget = new QueueBudget();

  constructor(options: CollectorsOptions) {
    this.#options = options;
  }

  /** The collector writing this VM's log now, if any. */
  for(vm: HyperVVm): SerialPipeCollector | undefined {
    return this.#running.get(vm.vmId);
  }

  /** Pending stops (a read of a VM just stopped waits for its last bytes to be written). */
  stopping(vm: HyperVVm): Promise<void> | undefined {
    return this.#stopping.get(vm.vmId);
  }

  get size(): number {
    return this.#running.size;
  }

  follow(vms: readonly HyperVVm[]): void {
    const wanted = new Map<string, { vm: HyperVVm; pipe: string; log: string }>();
    for (const vm of vms) {
      if (vm.secure || !vm.logPipe) continue;
      wanted.set(vm.vmId, { vm, pipe: pipePath(this.#options.pipePathTemplate, vm.logPipe), log: consoleLogPath(this.#options.instancesDir, vm) });
    }
    for (const [vmId, collector] of this.#running) {
      const want = wanted.get(vmId);
      if (want && want.pipe === collector.pipePath && want.log === collector.writer.rotation.files[0]) {
        collector.pipeExpected = want.vm.pipesUp;
        continue;
      }
      this.#stop(vmId, collector);
    }
    for (const [vmId, { vm, pipe, log }] of wanted) {
      if (this.#running.has(vmId)) continue;
      const collector = new SerialPipeCollector({
        pipePath: pipe,
        writer: new CappedLogWriter(log, { capBytes: this.#options.logCapBytes, budget: this.budget }),
        logger: this.#options.logger,
        label: `${vm.vmName} (${vm.serverId})`,
        ...(this.#options.backoff && { backoff: this.#options.backoff }),
      });
      collector.pipeExpected = vm.pipesUp;
      this.#running.set(vmId, collector);
      const before = this.#stopping.get(vmId) ?? Promise.resolve();
      void before.then(() => {
        if (this.#running.get(vmId) === collector) collector.start();
      });
    }
  }

  async stopAll(): Promise<void> {
    for (const [vmId, collector] of this.#running) this.#stop(vmId, collector);
    await Promise.all(this.#stopping.values());
  }

  #stop(vmId: string, collector: SerialPipeCollector): void {
    this.#running.delete(vmId);
    const previous = this.#stopping.get(vmId) ?? Promise.resolve();
    const done = previous.then(() => collector.stop()).catch((err) => {
      this.#options.logger.warn('console collector did not stop cleanly', { vmId, error: (err as Error).message });
    });
    this.#stopping.set(vmId, done);
    void done.then(() => {
      if (this.#stopping.get(vmId) === done) this.#stopping.delete(vmId);
    });
  }
}
