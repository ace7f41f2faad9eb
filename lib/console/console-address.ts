import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { VmconsoleError } from '../errors.ts';

/**
 * The address the agent connects to for a console that listens on `listen` (as the hypervisor
 * names it, never as a request does): loopback, or an address of this host's own interfaces. A
 * wildcard bind is reached on loopback; no listen address means the hypervisor's default, which
 * for libvirt (qemu.conf vnc_listen/spice_listen) and Nova (server_listen) is 127.0.0.1. Host
 * names are refused rather than resolved: a name could lead anywhere, the agent reaches only its
 * own host's consoles.
 */
export function connectableAddress(listen: string | undefined, ownAddresses: () => ReadonlySet<string> = hostAddresses): string {
  if (listen === undefined || listen === '' || listen === '0.0.0.0') return '127.0.0.1';
  if (listen === '::' || listen === '[::]') return '::1';
  if (listen === 'localhost') return '127.0.0.1';
  const bare = listen.startsWith('[') && listen.endsWith(']') ? listen.slice(1, -1) : listen;
  const family = isIP(bare);
  if (family === 4 && bare.startsWith('127.')) return bare;
  if (family === 6 && bare === '::1') return bare;
  if (family !== 0 && ownAddresses().has(bare.toLowerCase())) return bare;
  throw new VmconsoleError('Internal', 'The console of this server is not reachable from its compute host.', {
    detail: `the console listens on ${listen.slice(0, 100)}, which is neither loopback nor an address of this host: not connected to`,
  });
}

/** Every address of this host's interfaces, as the kernel lists them now. */
function hostAddresses(): ReadonlySet<string> {
  const all = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) all.add(entry.address.toLowerCase());
  }
  return all;
}
