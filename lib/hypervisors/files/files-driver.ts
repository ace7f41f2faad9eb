import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { openConfined, resolveRoots } from '../../console/open-confined.ts';
import { readLogWindow } from '../../console/read-log-window.ts';
import { virtlogdRotation, type RotatedLog } from '../../console/rotated-log.ts';
import { ServerId, ServerRecord, ServerState } from '../../contracts/records.ts';
import { VmconsoleError, isVmconsoleError } from '../../errors.ts';
import { createLogger, type Logger } from '../../logger.ts';
import type { ConsoleLog, DiscoveredServer, HypervisorDriver, RemoteConsoleProtocol, ServerHandle } from '../driver.ts';

/** Optional per-instance metadata; without it the server is known by its UUID to admins only. */
const InstanceSidecar = ServerRecord.pick({ name: true, projectId: true, userId: true }).extend({
  state: ServerState.optional(),
});

const UNASSIGNED = 'unassigned';
/** A sidecar is a few hundred bytes; anything bigger is not one, and is not worth reading. */
const MAX_SIDECAR_BYTES = 64 * 1024;

export interface FilesDriverOptions {
  /** One directory per server, named by its UUID (Nova's instances path). */
  instancesDir: string;
  /** Directories console logs may be read from; anything else is refused. */
  roots: readonly string[];
  logger?: Logger;
}

/**
 * Servers whose console is a plain file: `<instancesDir>/<uuid>/console.log` with virtlogd-style
 * backups `.0`, `.1`, ... (Nova's instance directory layout; also QEMU `-chardev file`,
 * cloud-hypervisor and firecracker serial logs).
 */
export class FilesDriver implements HypervisorDriver {
  readonly kind = 'files' as const;
  readonly #instancesDir: string;
  readonly #roots: readonly string[];
  readonly #logger: Logger;
  /** Warn once per broken sidecar, not at every heartbeat. */
  readonly #warned = new Set<string>();

  constructor(options: FilesDriverOptions) {
    this.#instancesDir = options.instancesDir;
    this.#roots = options.roots;
    this.#logger = options.logger ?? createLogger('vmconsole-files-driver');
  }

  async listServers(): Promise<DiscoveredServer[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.#instancesDir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.#warnOnce(this.#instancesDir, `instances directory ${this.#instancesDir} does not exist; no servers`);
      return [];
    }
    // One server per UUID even if two directories differ only in case; sorted for a stable pick.
    const byId = new Map<string, string>();
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!entry.isDirectory() || !ServerId.safeParse(entry.name).success) continue;
      const id = entry.name.toLowerCase();
      if (!byId.has(id)) byId.set(id, entry.name);
    }
    // Sidecars sit in directories the hypervisor's user may write to: read them with the same
    // confinement as logs (no FIFOs, no links or swapped directories leading elsewhere).
    const roots = await resolveRoots([this.#instancesDir]);
    return Promise.all([...byId.values()].map((dirName) => this.#describe(dirName, roots)));
  }

  async readConsoleLog(server: ServerHandle, window: number): Promise<Buffer> {
    const dir = this.#instanceDir(server);
    const bytes = await readLogWindow(virtlogdRotation(join(dir, 'console.log')).files, window, this.#roots);
    // Bytes came from inside the directory, so it exists; only an empty answer needs the question
    // asked (a server without its directory is not on this host; one without a log yet has "").
    if (bytes.length > 0) return bytes;
    const isDir = await stat(dir).then((st) => st.isDirectory(), () => false);
    if (!isDir) throw notFound(server);
    return bytes;
  }

  /**
   * A file is all a files-driver server has: no graphics and no interactive serial, so every
   * remote console is unavailable (Nova's ConsoleTypeUnavailable), for a server that is here.
   */
  async consoleEndpoint(server: ServerHandle, _protocol?: RemoteConsoleProtocol): Promise<undefined> {
    const isDir = await stat(this.#instanceDir(server)).then((st) => st.isDirectory(), () => false);
    if (!isDir) throw notFound(server);
    return undefined;
  }

  /** `<instancesDir>/<uuid>/console.log` with virtlogd's naming, whether or not it exists yet. */
  async consoleLogSet(server: ServerHandle): Promise<RotatedLog> {
    return virtlogdRotation(join(this.#instanceDir(server), 'console.log'));
  }

  /**
   * `console.log` is port 0; a further serial port n (1..31) is `console-<n>.log` beside it, when
   * that file exists (README, "Console history"). Each rotates as virtlogd names it.
   */
  async consoleLogs(server: ServerHandle): Promise<ConsoleLog[]> {
    const dir = this.#instanceDir(server);
    const names = await readdir(dir).catch(() => [] as string[]);
    const ports = names.map((n) => /^console-([1-9]|[12]\d|3[01])\.log$/.exec(n)?.[1]).filter((p) => p !== undefined).map(Number);
    return [
      { port: 0, name: null, log: await this.consoleLogSet(server) },
      ...ports.sort((a, b) => a - b).map((port) => ({ port, name: null, log: virtlogdRotation(join(dir, `console-${port}.log`)) })),
    ];
  }

  /** The server's directory, named by its UUID: an instance name that is not the id names nothing of ours. */
  #instanceDir(server: ServerHandle): string {
    const name = server.instanceName;
    if (!ServerId.safeParse(name).success || name.toLowerCase() !== server.id.toLowerCase()) {
      throw notFound(server);
    }
    return join(this.#instancesDir, name);
  }

  async #describe(dirName: string, roots: readonly string[]): Promise<DiscoveredServer> {
    const id = dirName.toLowerCase();
    const sidecar = await this.#readSidecar(join(this.#instancesDir, dirName, 'instance.json'), roots);
    return {
      id,
      name: sidecar?.name ?? id,
      projectId: sidecar?.projectId ?? UNASSIGNED,
      userId: sidecar?.userId ?? UNASSIGNED,
      state: sidecar?.state ?? 'active',
      instanceName: dirName,
    };
  }

  async #readSidecar(path: string, roots: readonly string[]): Promise<z.infer<typeof InstanceSidecar> | undefined> {
    let text: string | undefined;
    try {
      text = await readSmallFile(path, roots);
      if (text === undefined) return undefined;
    } catch (err) {
      this.#warnOnce(path, `cannot read ${path}: ${operatorText(err)}; server listed as unassigned`);
      return undefined;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.#warnOnce(path, `${path} is not JSON: ${(err as Error).message}; server listed as unassigned`);
      return undefined;
    }
    const parsed = InstanceSidecar.safeParse(json);
    if (!parsed.success) {
      this.#warnOnce(path, `${path} is not a valid instance sidecar (${z.prettifyError(parsed.error)}); server listed as unassigned`);
      return undefined;
    }
    return parsed.data;
  }

  #warnOnce(path: string, message: string): void {
    if (this.#warned.has(path)) return;
    this.#warned.add(path);
    this.#logger.warn(message);
  }
}

function notFound(server: ServerHandle): VmconsoleError {
  return new VmconsoleError('ServerNotFound', 'the server is not on this host', {
    detail: `server ${server.id} has no instance directory under the files driver's instances directory`,
  });
}

/** A refusal's tenant-safe message says nothing an operator can act on; its detail names the file and why. */
function operatorText(err: unknown): string {
  return isVmconsoleError(err) && err.detail !== undefined ? err.detail : (err as Error).message;
}

async function readSmallFile(path: string, roots: readonly string[]): Promise<string | undefined> {
  const file = await openConfined(path, roots);
  if (file === undefined) return undefined;
  try {
    const { size } = file.stats;
    if (size > MAX_SIDECAR_BYTES) throw new Error(`${path} is larger than ${MAX_SIDECAR_BYTES} bytes`);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await file.handle.read(buffer, 0, size, 0);
    return buffer.toString('utf8', 0, bytesRead);
  } finally {
    await file.handle.close();
  }
}
