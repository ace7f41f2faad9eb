import type { HypervisorDriver } from '../hypervisors/driver.ts';
import type { AgentConfig } from './config.ts';

/**
 * The one place a driver section becomes a driver; each hypervisor is one case here.
 * Drivers load on demand: a host only loads the code of the hypervisor it runs.
 */
export async function createDriver({ driver, logRoots }: Pick<AgentConfig, 'driver' | 'logRoots'>): Promise<HypervisorDriver> {
  switch (driver.kind) {
    case 'files': {
      const { FilesDriver } = await import('../hypervisors/files/files-driver.ts');
      return new FilesDriver({ instancesDir: driver.instancesDir, roots: logRoots });
    }
    case 'libvirt': {
      const { LibvirtDriver } = await import('../hypervisors/libvirt/libvirt-driver.ts');
      return new LibvirtDriver({ uri: driver.uri, roots: logRoots, instancesDir: driver.instancesDir });
    }
    case 'hyperv': {
      const { HyperVDriver } = await import('../hypervisors/hyperv/hyperv-driver.ts');
      return new HyperVDriver({
        powershell: driver.powershell,
        pipePathTemplate: driver.pipePathTemplate,
        instancesDir: driver.instancesDir,
        roots: logRoots,
        logCapBytes: driver.logCapBytes,
        pollMs: driver.pollMs,
        collect: driver.collect,
      });
    }
  }
}
