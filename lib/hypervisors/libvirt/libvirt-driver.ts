import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ServerRef } from '../../contracts/messages.ts';
import type { ServerState } from '../../contracts/records.ts';
import { readLogWindow, virtlogdRotation } from '../../console/read-log-window.ts';
import { VmconsoleError, isVmconsoleError } from '../../errors.ts';
import type { DiscoveredServer, HypervisorDriver } from '../driver.ts';
import { parseDomainXml, type DomainInfo } from './domain-xml.ts';
import { drainPty } from './drain-pty.ts';
import { createVirsh, type Virsh } from './virsh.ts';

export interface LibvirtDriverOptions {
  uri: string;
  roots: readonly string[];
  /** Nova's instances path: where a pty without virtlogd is drained to `<uuid>/console.log`. */
  instancesDir: string;
  virshPath?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UNASSIGNED = 'unassigned';

/**
 * libvirt through virsh. Parsed domain XML is cached per domain and dropped on every libvirt
 * event (and whenever a listing shows a domain's state changed), so a console request on a
 * known domain costs no virsh call at all.
 */
export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt' as const;
  readonly #virsh: Virsh;
  readonly #options: LibvirtDriverOptions;
  readonly #domains = new Map<string, { info: DomainInfo; state: ServerState | undefined }>();

  constructor(options: LibvirtDriverOptions) {
    this.#options = options;
    this.#virsh = createVirsh(options.uri, options.virshPath === undefined ? {} : { virshPath: options.virshPath });
  }

  async listServers(): Promise<DiscoveredServer[]> {
    const uuids = async (filter: string) => (await this.#virsh(['list', filter, '--uuid'])).split('\n').map((s) => s.trim().toLowerCase()).filter((s) => UUID.test(s));
    const [all, running, paused, shutoff] = await Promise.all([uuids('--all'), uuids('--state-running'), uuids('--state-paused'), uuids('--state-shutoff')]);
    const stateOf = (uuid: string): ServerState =>
      running.includes(uuid) ? 'active' : paused.includes(uuid) ? 'paused' : shutoff.includes(uuid) ? 'stopped' : 'unknown';
    for (const uuid of this.#domains.keys()) if (!all.includes(uuid)) this.#domains.delete(uuid);
    const servers: DiscoveredServer[] = [];
    for (const uuid of all) {
      const state = stateOf(uuid);
      // A changed state can mean changed XML (a started domain gets its pty path and log).
      if (this.#domains.get(uuid)?.state !== state) this.#domains.delete(uuid);
      let info: DomainInfo;
      try {
        info = await this.#domain(uuid, state);
      } catch (err) {
        if (isVmconsoleError(err) && err.code === 'ServerNotFound') continue; // undefined meanwhile
        throw err;
      }
      servers.push({
        id: info.uuid,
        name: info.nova?.name ?? info.name,
        projectId: info.nova?.projectId ?? UNASSIGNED,
        userId: info.nova?.userId ?? UNASSIGNED,
        state,
        instanceName: info.name,
      });
    }
    return servers;
  }

  async readConsoleLog(server: ServerRef, window: number): Promise<Buffer> {
    const info = await this.#domain(server.id.toLowerCase());
    const where = info.console;
    switch (where.kind) {
      case 'none':
        throw new VmconsoleError('NoConsole', `Instance ${server.id} has no console.`);
      case 'file':
        return readLogWindow(virtlogdRotation(where.path), window, this.#options.roots);
      case 'pty': {
        const drained = join(this.#options.instancesDir, info.uuid, 'console.log');
        if (where.ptyPath) await drainPty(where.ptyPath, drained);
        return readLogWindow(virtlogdRotation(drained), window, this.#options.roots);
      }
    }
  }

  watch(onChange: () => void, signal: AbortSignal): void {
    let timer: NodeJS.Timeout | undefined;
    let backoffMs = 1_000;
    const changed = () => {
      this.#domains.clear();
      clearTimeout(timer);
      timer = setTimeout(onChange, 150);
    };
    const follow = () => {
      if (signal.aborted) return;
      const child = spawn(this.#options.virshPath ?? 'virsh', ['-q', '-c', this.#options.uri, 'event', '--all', '--loop'], {
        stdio: ['ignore', 'pipe', 'ignore'],
        env: { ...process.env, LANG: 'C', LC_ALL: 'C' },
      });
      const stop = () => child.kill();
      signal.addEventListener('abort', stop, { once: true });
      createInterface({ input: child.stdout }).on('line', (line) => {
        backoffMs = 1_000;
        if (line.trim()) changed();
      });
      child.on('error', () => undefined);
      child.on('close', () => {
        signal.removeEventListener('abort', stop);
        if (signal.aborted) return;
        // Events may have been missed while the subscription was down: resync, then follow again.
        changed();
        setTimeout(follow, backoffMs);
        backoffMs = Math.min(backoffMs * 2, 30_000);
      });
    };
    follow();
  }

  async #domain(uuid: string, state?: ServerState): Promise<DomainInfo> {
    const cached = this.#domains.get(uuid);
    if (cached) return cached.info;
    if (!UUID.test(uuid)) throw new VmconsoleError('ServerNotFound', 'not a libvirt domain UUID');
    const info = parseDomainXml(await this.#virsh(['dumpxml', uuid]));
    this.#domains.set(uuid, { info, state });
    return info;
  }
}
