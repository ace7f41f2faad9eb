import { execFile } from 'node:child_process';
import { VmconsoleError } from '../../errors.ts';

/** Runs one virsh command against the driver's connection and resolves with its stdout; `signal` kills it. */
export type Virsh = (args: readonly string[], signal?: AbortSignal) => Promise<string>;

export interface VirshOptions {
  virshPath?: string;
  timeoutMs?: number;
}

/** Domain XML is a few KiB; a listing of thousands of domains stays far below this. */
const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * `virsh -c <uri> ...` without a shell. libvirt's Node bindings are stale or need native builds;
 * virsh is on every libvirt host. LANG=C keeps its messages stable for the mapping below.
 */
export function createVirsh(uri: string, options: VirshOptions = {}): Virsh {
  const virshPath = options.virshPath ?? 'virsh';
  return (args, signal) =>
    new Promise((resolve, reject) => {
      execFile(
        virshPath,
        ['-q', '-c', uri, ...args],
        {
          timeout: options.timeoutMs ?? 15_000,
          maxBuffer: MAX_OUTPUT_BYTES,
          env: virshEnv(),
          ...(signal && { signal }),
        },
        (err, stdout, stderr) => (err ? reject(virshError(err, String(stderr), virshPath, uri, args)) : resolve(stdout)),
      );
    });
}

export function virshEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LANG: 'C', LC_ALL: 'C' };
}

/**
 * What failed, in words a tenant may read; the URI, the virsh path and virsh's own stderr (which
 * names sockets, hosts and files) go to `detail` for the operator's log.
 */
function virshError(err: Error, stderr: string, virshPath: string, uri: string, args: readonly string[]): VmconsoleError {
  const command = args[0] ?? '';
  const errno = (err as NodeJS.ErrnoException).code;
  if (errno === 'ENOENT') {
    return new VmconsoleError('Internal', 'virsh is not installed on this host', { detail: `${virshPath} not found`, cause: err });
  }
  const said = (stderr.trim() || err.message).replace(/\s+/g, ' ').slice(0, 300);
  const detail = `virsh -c ${uri} ${args.join(' ')}: ${said}`;
  if (/Domain not found|failed to get domain/i.test(said)) {
    return new VmconsoleError('ServerNotFound', 'the server is not defined on this host', { detail, cause: err });
  }
  if ((err as { killed?: boolean }).killed) {
    return new VmconsoleError('Internal', `virsh ${command} did not finish in time: libvirt is not answering`, { detail, cause: err });
  }
  if (/failed to connect|unable to connect|Failed to connect socket|no connection driver/i.test(said)) {
    return new VmconsoleError('Internal', 'cannot connect to libvirt', { detail, cause: err });
  }
  return new VmconsoleError('Internal', `virsh ${command} failed`, { detail, cause: err });
}
