import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogWindow } from '../../console/read-log-window.ts';
import { virtlogdRotation, type RotatedLog } from '../../console/rotated-log.ts';
import type { ServerState } from '../../contracts/records.ts';
import { VmconsoleError, isVmconsoleError } from '../../errors.ts';
import type { ConsoleEndpoint, ConsoleLog, RemoteConsoleProtocol, DiscoveredServer, DriverEvent, HypervisorDriver, Screenshot, ServerHandle } from '../driver.ts';
import { parseDomainXml, parseRemoteConsoles, type DomainInfo } from './domain-xml.ts';
import { drainPty } from './drain-pty.ts';
import { listDomains, type ListedDomain } from './list-domains.ts';
import type { VirshEvent } from './parse-event-line.ts';
import { createVirsh, type Virsh } from './virsh.ts';
import { watchEvents } from './watch-events.ts';

export interface LibvirtDriverOptions {
  /** libvirt connection URI, e.g. qemu:///system. */
  uri: string;
  /** Directories console logs may be read from; anything else is refused. */
  roots: readonly string[];
  /** Nova's instances path: a pty without a log is drained into `<instancesDir>/<uuid>/console.log`. */
  instancesDir: string;
  virshPath?: string;
}

interface Cached {
  info: DomainInfo;
  /** The state the XML was fetched in, when known: a state change can change the XML. */
  state: ServerState | undefined;
}

const UNASSIGNED = 'unassigned';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** dumpxml calls in flight during a listing: a host with hundreds of new domains must not fork hundreds of virsh. */
const DUMPXML_CONCURRENCY = 8;
/** A 4K screen as PPM is 25 MB; anything past this is not a console screen. */
const MAX_SCREENSHOT_BYTES = 32 * 1024 * 1024;

/**
 * libvirt through virsh. Parsed domain XML is cached per domain and dropped on every libvirt
 * event (and when a listing shows the domain's state changed), so a console request for a known
 * domain with a log file costs no virsh call at all (a pty without a log costs one). A stopped domain still answers with the log on disk
 * (Nova answers 404 there).
 */
export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt' as const;
  readonly #options: LibvirtDriverOptions;
  readonly #virsh: Virsh;
  readonly #cache = new Map<string, Cached>();
  /** Bumped by every event, so XML fetched before an event is not cached after it. */
  #generation = 0;
  /** Drains of one pty run one after another, so appends keep the guest's byte order. */
  readonly #drains = new Map<string, Promise<unknown>>();
  /** virsh events name domains, not UUIDs: names as of the last listing and every XML read since. */
  readonly #uuidByName = new Map<string, string>();
  /** Subscribers of watch(); one `virsh event` process serves them all while there is any. */
  readonly #subscribers = new Set<(event: DriverEvent) => void>();
  #following: AbortController | undefined;

  constructor(options: LibvirtDriverOptions) {
    this.#options = options;
    this.#virsh = createVirsh(options.uri, options.virshPath === undefined ? {} : { virshPath: options.virshPath });
  }

  async listServers(): Promise<DiscoveredServer[]> {
    const domains = await listDomains(this.#virsh);
    const present = new Set(domains.map((d) => d.uuid));
    for (const uuid of this.#cache.keys()) if (!present.has(uuid)) this.#cache.delete(uuid);
    this.#uuidByName.clear();
    for (const d of domains) this.#uuidByName.set(d.name, d.uuid);
    const servers: (DiscoveredServer | undefined)[] = new Array(domains.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < domains.length; i = next++) servers[i] = await this.#discovered(domains[i]!);
    };
    await Promise.all(Array.from({ length: Math.min(DUMPXML_CONCURRENCY, domains.length) }, worker));
    return servers.filter((s): s is DiscoveredServer => s !== undefined);
  }

  /**
   * By UUID only, never by `instanceName`: the id came from this driver's own listing, so a UUID
   * libvirt no longer knows means the domain is gone, and another domain under the same name is
   * another guest whose output must not be served under this id.
   */
  /**
   * `virsh screenshot` into a private temporary file: QEMU's screendump of the first screen, as PPM
   * (or PNG, as newer libvirt may give it), with the type virsh names. A domain without a
   * `<graphics>` device has no screen: undefined, without asking libvirt for a picture. Fresh XML
   * each time (a graphics device can be hot-plugged; this runs once per crash, not per request).
   */
  async screenshot(server: ServerHandle, signal?: AbortSignal): Promise<Screenshot | undefined> {
    const uuid = server.id.toLowerCase();
    const info = await this.#fetch(uuid, signal);
    if (!info.graphics) return undefined;
    const dir = await mkdtemp(join(tmpdir(), 'vmconsole-screenshot-'));
    try {
      const file = join(dir, 'screen');
      const said = await this.#virsh(['screenshot', uuid, file], signal);
      const { size } = await stat(file);
      if (size > MAX_SCREENSHOT_BYTES) throw new VmconsoleError('Internal', 'the screenshot is too large', { detail: `virsh screenshot ${uuid} wrote ${size} bytes (at most ${MAX_SCREENSHOT_BYTES})` });
      const bytes = await readFile(file);
      // virsh names the type ("... with type of image/x-portable-pixmap") except under -q: then by its magic.
      const contentType = /type of (\S+)/.exec(said)?.[1] ?? (bytes.subarray(0, 2).toString('latin1') === 'P6' ? 'image/x-portable-pixmap' : bytes.subarray(1, 4).toString('latin1') === 'PNG' ? 'image/png' : 'application/octet-stream');
      return { bytes, contentType };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * From the live XML every time (`dumpxml` without --inactive, never the cache): an autoport is
   * filled in at each start and a port is this domain's only while it runs.
   */
  async consoleEndpoint(server: ServerHandle, protocol: RemoteConsoleProtocol, signal?: AbortSignal): Promise<ConsoleEndpoint | undefined> {
    const uuid = server.id.toLowerCase();
    const consoles = parseRemoteConsoles(await this.#dumpxml(uuid, signal));
    if (consoles.uuid !== uuid) {
      throw new VmconsoleError('Internal', 'libvirt answered with the XML of another domain', { detail: `virsh dumpxml ${uuid} returned domain ${consoles.uuid}` });
    }
    const found = consoles[protocol];
    return found && { address: found.listen, port: found.port, tlsPort: found.tlsPort };
  }

  async readConsoleLog(server: ServerHandle, window: number, signal?: AbortSignal): Promise<Buffer> {
    const uuid = server.id.toLowerCase();
    const cached = this.#cache.get(uuid);
    // A pty path is the domain's only while it runs and /dev/pts numbers are reused: draining a
    // stale one would take another guest's output, or a shell's keystrokes. Ask libvirt first,
    // as Nova does; pty consoles without virtlogd are rare, so the cache keeps almost all its worth.
    if (!cached || cached.info.console.kind === 'pty') return this.#read(await this.#fetch(uuid, signal), window);
    try {
      const log = await this.#read(cached.info, window);
      if (log.length > 0) return log;
    } catch {
      // Fall through: the cached location may be stale.
    }
    // Nothing at the cached location: the XML may have changed without an event reaching us
    // (watch not running, or the change raced it). One fresh look settles it either way.
    this.#cache.delete(uuid);
    return this.#read(await this.#fetch(uuid, signal), window);
  }

  /**
   * The log the domain XML names (a file console, or virtlogd's log of a tcp or pty console), or
   * for a pty without a log the instance's console.log it is drained into (written only when a
   * read drains the pty, as in Nova). From the cached XML when there is one: an event drops it.
   */
  async consoleLogSet(server: ServerHandle, signal?: AbortSignal): Promise<RotatedLog | undefined> {
    const uuid = server.id.toLowerCase();
    const info = this.#cache.get(uuid)?.info ?? await this.#fetch(uuid, signal);
    const where = info.console;
    switch (where.kind) {
      case 'none':
        return undefined;
      case 'file':
        return virtlogdRotation(where.path);
      case 'pty':
        return virtlogdRotation(join(this.#options.instancesDir, info.uuid, 'console.log'));
    }
  }

  /**
   * Port 0 as consoleLogSet names it (Nova's console), then every further `<serial>` port whose
   * output libvirt writes to a file (virtlogd's log, or a file source), named as Linux names it.
   */
  async consoleLogs(server: ServerHandle, signal?: AbortSignal): Promise<ConsoleLog[]> {
    const zero = await this.consoleLogSet(server, signal);
    const info = this.#cache.get(server.id.toLowerCase())?.info ?? await this.#fetch(server.id.toLowerCase(), signal);
    const logs: ConsoleLog[] = zero ? [{ port: 0, name: 'ttyS0', log: zero }] : [];
    for (const { port, path } of info.serialLogs) if (port > 0) logs.push({ port, name: `ttyS${port}`, log: virtlogdRotation(path) });
    return logs;
  }

  /**
   * libvirt's lifecycle events as driver events, by server id. A name this driver has not seen
   * in a listing (a domain defined or created since) gives a resync instead: the listing that
   * follows learns it. Every event drops the cached XML it may have changed.
   */
  watch(onEvent: (event: DriverEvent) => void, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.#subscribers.add(onEvent);
    signal.addEventListener(
      'abort',
      () => {
        this.#subscribers.delete(onEvent);
        if (this.#subscribers.size === 0) {
          this.#following?.abort();
          this.#following = undefined;
        }
      },
      { once: true },
    );
    if (this.#following) return;
    this.#following = new AbortController();
    watchEvents({
      uri: this.#options.uri,
      virshPath: this.#options.virshPath ?? 'virsh',
      signal: this.#following.signal,
      onEvent: (event) => this.#onVirshEvent(event),
      onGap: (reason) => {
        this.#invalidate(undefined);
        this.#publish({ type: 'resync', reason, at: Date.now() });
      },
    });
  }

  #onVirshEvent(event: VirshEvent): void {
    const uuid = this.#uuidByName.get(event.domain);
    this.#invalidate(uuid);
    const at = Date.now();
    if (uuid === undefined) {
      this.#publish({ type: 'resync', reason: `event for domain '${event.domain}', unknown until the next listing`, at });
      return;
    }
    if (event.kind !== 'lifecycle' || event.type === undefined) return;
    if (event.type === 'undefined') this.#uuidByName.delete(event.domain);
    this.#publish({ type: event.type, server: { id: uuid, instanceName: event.domain }, reason: `${event.event} ${event.detail}`, at });
  }

  /** One domain's cached XML, or all of it; XML being fetched now is not cached either. */
  #invalidate(uuid: string | undefined): void {
    this.#generation++;
    if (uuid === undefined) this.#cache.clear();
    else this.#cache.delete(uuid);
  }

  #publish(event: DriverEvent): void {
    for (const subscriber of this.#subscribers) subscriber(event);
  }

  async #discovered(domain: ListedDomain): Promise<DiscoveredServer | undefined> {
    const cached = this.#cache.get(domain.uuid);
    let info = cached && cached.state === domain.state ? cached.info : undefined;
    if (!info) {
      const generation = this.#generation;
      let xml: string;
      try {
        xml = await this.#dumpxml(domain.uuid);
      } catch (err) {
        if (isVmconsoleError(err) && err.code === 'ServerNotFound') return undefined; // undefined since the listing
        throw err; // libvirt itself failed: no partial inventory
      }
      try {
        info = this.#remember(domain.uuid, xml, domain.state, generation);
      } catch (err) {
        if (!isVmconsoleError(err)) throw err;
        // XML vmconsole cannot read: the domain stays visible to admins under its libvirt name.
        info = { uuid: domain.uuid, name: domain.name, console: { kind: 'none' }, serialLogs: [], graphics: false };
      }
    }
    return {
      id: domain.uuid,
      name: info.nova?.name ?? info.name,
      projectId: info.nova?.projectId ?? UNASSIGNED,
      userId: info.nova?.userId ?? UNASSIGNED,
      state: domain.state,
      instanceName: info.name,
    };
  }

  async #fetch(uuid: string, signal?: AbortSignal): Promise<DomainInfo> {
    const generation = this.#generation;
    return this.#remember(uuid, await this.#dumpxml(uuid, signal), undefined, generation);
  }

  /** `dumpxml` answers for inactive domains too: their log stays readable. */
  async #dumpxml(uuid: string, signal?: AbortSignal): Promise<string> {
    if (!UUID.test(uuid)) throw new VmconsoleError('ServerNotFound', 'not a libvirt domain UUID');
    return this.#virsh(['dumpxml', uuid], signal);
  }

  /** Parses and caches, unless an event came since the XML was asked for. */
  #remember(uuid: string, xml: string, state: ServerState | undefined, generation: number): DomainInfo {
    const info = parseDomainXml(xml);
    this.#uuidByName.set(info.name, info.uuid);
    if (info.uuid !== uuid) {
      throw new VmconsoleError('Internal', 'libvirt answered with the XML of another domain', { detail: `virsh dumpxml ${uuid} returned domain ${info.uuid}` });
    }
    if (generation === this.#generation) this.#cache.set(uuid, { info, state });
    return info;
  }

  async #read(info: DomainInfo, window: number): Promise<Buffer> {
    const where = info.console;
    switch (where.kind) {
      case 'none':
        throw new VmconsoleError('NoConsole', 'server has no console');
      case 'file':
        return readLogWindow(virtlogdRotation(where.path).files, window, this.#options.roots);
      case 'pty': {
        const drained = join(this.#options.instancesDir, info.uuid, 'console.log');
        if (where.ptyPath !== undefined) await this.#drain(info.uuid, where.ptyPath, drained);
        return readLogWindow(virtlogdRotation(drained).files, window, this.#options.roots);
      }
    }
  }

  async #drain(uuid: string, ptyPath: string, logFile: string): Promise<void> {
    const previous = this.#drains.get(uuid) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(() => drainPty(ptyPath, logFile));
    this.#drains.set(uuid, current);
    try {
      await current;
    } finally {
      if (this.#drains.get(uuid) === current) this.#drains.delete(uuid);
    }
  }
}
