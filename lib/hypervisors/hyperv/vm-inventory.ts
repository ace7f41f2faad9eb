import type { Logger } from '../../logger.ts';
import type { DriverEvent, ServerEventType } from '../driver.ts';
import { mapVms, type HyperVVm } from './list-vms.ts';
import { DISCOVERY_SCRIPT, runPowerShellJson, type PowerShellOptions } from './powershell.ts';

/** Distinct failure reasons said in one streak; more (words that change at every poll) wait for the reminder. */
export const FAILURE_REASONS_PER_STREAK = 4;
/** A failing streak is said again every this many failed listings (10 min at the default 10 s poll). */
export const DEFAULT_REMIND_EVERY = 60;

export interface VmInventoryOptions extends PowerShellOptions {
  pollMs: number;
  /** Failed listings between two reminders that listing still fails. */
  remindEvery?: number;
  logger: Logger;
  /** Called after every successful listing with the new list (the collectors follow it). */
  onList: (vms: readonly HyperVVm[]) => void;
  /** Called with each change a listing shows. */
  onEvent: (event: DriverEvent) => void;
}

/**
 * What Hyper-V says this host runs, asked with one fixed PowerShell script every `pollMs`
 * (polling rather than a WMI event subscription: see the README's Hyper-V section). Each listing
 * is complete, so a missed change is impossible and a failed listing costs nothing but staleness:
 * the last good list stays in use and the failure is logged once per streak (with its reason),
 * not at every poll: a new reason is said too (a few per streak), the streak is recalled every
 * `remindEvery` failed listings, and its end is logged. A VM entry left out is named once, not
 * at every listing. Changes between listings become driver events.
 */
export class VmInventory {
  readonly #options: VmInventoryOptions;
  #known: Map<string, HyperVVm> | undefined;
  #lastError: string | undefined;
  #failures = 0;
  /** Reasons already said in this failing streak. */
  readonly #reasonsSaid = new Set<string>();
  /** Problems of the last listing: said again only once they went away and came back. */
  #problems = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #lifetime = new AbortController();

  constructor(options: VmInventoryOptions) {
    this.#options = options;
  }

  /** The last good listing, by server id; undefined until one succeeded. */
  get known(): ReadonlyMap<string, HyperVVm> | undefined {
    return this.#known;
  }

  /** One listing now (or the one under way); throws when it fails and no listing ever succeeded. */
  async refresh(): Promise<void> {
    this.#running ??= this.#list().finally(() => {
      this.#running = undefined;
    });
    await this.#running;
    if (!this.#known) throw new Error(this.#lastError ?? 'no VM listing yet');
  }

  /** Lists now, then every pollMs (the next poll is timed from the end of the last: never two at once). */
  start(): Promise<void> {
    const tick = async () => {
      await this.refresh().catch(() => undefined);
      if (!this.#lifetime.signal.aborted) this.#timer = setTimeout(() => void tick(), this.#options.pollMs);
    };
    return tick();
  }

  async stop(): Promise<void> {
    this.#lifetime.abort();
    clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  async #list(): Promise<void> {
    let vms: HyperVVm[];
    try {
      const raw = await runPowerShellJson(DISCOVERY_SCRIPT, this.#options, this.#lifetime.signal);
      // An answer that was already on its way when stop() aborted: nobody follows it any more.
      if (this.#lifetime.signal.aborted) return;
      const mapped = mapVms(raw);
      const problems = new Set(mapped.problems);
      for (const problem of problems) if (!this.#problems.has(problem)) this.#options.logger.warn('Hyper-V VM left out of the inventory', { problem });
      this.#problems = problems;
      vms = mapped.vms;
    } catch (err) {
      if (this.#lifetime.signal.aborted) return;
      const reason = (err as { detail?: string }).detail ?? (err as Error).message;
      this.#failures++;
      const data = { reason, knownVms: this.#known?.size ?? 0, powershell: this.#options.executable };
      if (!this.#reasonsSaid.has(reason) && this.#reasonsSaid.size < FAILURE_REASONS_PER_STREAK) {
        this.#reasonsSaid.add(reason);
        this.#options.logger.error('listing Hyper-V VMs failed; serving the VMs known from the last good listing', data);
      } else if (this.#failures % (this.#options.remindEvery ?? DEFAULT_REMIND_EVERY) === 0) {
        this.#options.logger.error('listing Hyper-V VMs still fails; serving the VMs known from the last good listing', { ...data, failedListings: this.#failures });
      }
      this.#lastError = reason;
      return;
    }
    if (this.#failures > 0) this.#options.logger.info('listing Hyper-V VMs works again', { failedListings: this.#failures });
    this.#failures = 0;
    this.#reasonsSaid.clear();
    this.#lastError = undefined;
    const next = new Map(vms.map((vm) => [vm.serverId, vm]));
    const previous = this.#known;
    this.#known = next;
    this.#options.onList(vms);
    if (previous) for (const event of changes(previous, next)) this.#options.onEvent(event);
  }
}

/** Hyper-V's *Critical states (RunningCritical, OffCritical, SavedCritical, ...). */
export function isCritical(hyperVState: string): boolean {
  return hyperVState.endsWith('Critical');
}

/**
 * What changed between two listings, in the driver's event words.
 *
 * A VM seen going from a state that is not *Critical to one that is (Hyper-V lost something the
 * VM needs, typically its storage) is `crashed`, with the new state's name as the reason
 * ("RunningCritical"), before the power change the state also means (Running -> OffCritical is
 * crashed, then stopped; Running -> RunningCritical is only crashed). Only an entry seen happen
 * counts: a VM already critical in the agent's first listing (there is no `before` then) or when
 * it first appears gives no crash event, since its crash was before this agent looked and may be
 * days old (it was reported by the agent that saw it, if any); every agent restart (the service
 * manager restarts it on failure) would otherwise send one event per critical VM again and have
 * its current console diagnosed as if it had just crashed. Leaving a critical state (recovery),
 * or going from one critical state to another, is no crash: its power change is reported as for
 * any state. A numeric State above 32782 is not named (Windows releases number the *Critical
 * states differently), so output printing numbers gives no critical state; the bundled discovery
 * script prints names.
 *
 * A guest that stopped unexpectedly is not reported as crashed: Get-VM says only Off, whether the
 * guest shut itself down, an operator turned it off or it died, so it is `stopped` like any other.
 */
export function changes(before: ReadonlyMap<string, HyperVVm>, after: ReadonlyMap<string, HyperVVm>, at = Date.now()): DriverEvent[] {
  const events: DriverEvent[] = [];
  const event = (type: ServerEventType, vm: HyperVVm, reason: string) => events.push({ type, server: { id: vm.serverId, instanceName: vm.vmName }, reason, at });
  for (const [id, vm] of after) {
    const old = before.get(id);
    if (!old) {
      event('defined', vm, `VM appeared (${vm.hyperVState})`);
      if (vm.state === 'active') event('started', vm, vm.hyperVState);
      continue;
    }
    if (isCritical(vm.hyperVState) && !isCritical(old.hyperVState)) event('crashed', vm, vm.hyperVState);
    if (old.state === vm.state) continue;
    const reason = `${old.hyperVState} -> ${vm.hyperVState}`;
    if (vm.state === 'active') event(old.state === 'paused' || old.state === 'suspended' ? 'resumed' : 'started', vm, reason);
    else if (vm.state === 'stopped') event('stopped', vm, reason);
    else if (vm.state === 'paused' || vm.state === 'suspended') event('paused', vm, reason);
    else events.push({ type: 'resync', reason: `VM ${vm.vmId}: ${reason}`, at });
  }
  for (const [id, vm] of before) if (!after.has(id)) event('undefined', vm, 'VM gone');
  return events;
}
