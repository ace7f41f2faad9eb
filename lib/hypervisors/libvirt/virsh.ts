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

function virshError(err: Error, stderr: string, virshPath: string, uri: string, args: readonly string[]): VmconsoleError {
  const errno = (err as NodeJS.ErrnoException).code;
  if (errno === 'ENOENT') {
    return new VmconsoleError('Internal', `virsh is not installed on this host (${virshPath} not found)`, { cause: err });
  }
  const message = (stderr.trim() || err.message).replace(/\s+/g, ' ').slice(0, 300);
  if (/Domain not found|failed to get domain/i.test(message)) {
    return new VmconsoleError('ServerNotFound', 'the server is not defined on this host', { cause: err });
  }
  if ((err as { killed?: boolean }).killed) {
    return new VmconsoleError('Internal', `virsh ${args[0] ?? ''} did not finish in time (libvirt at ${uri} is not answering)`, { cause: err });
  }
  if (/failed to connect|unable to connect|Failed to connect socket|no connection driver/i.test(message)) {
    return new VmconsoleError('Internal', `cannot connect to libvirt at ${uri}: ${message}`, { cause: err });
  }
  return new VmconsoleError('Internal', `virsh ${args[0] ?? ''} failed: ${message}`, { cause: err });
}
