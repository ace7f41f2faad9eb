import type { HypervisorDriver } from '../hypervisors/driver.ts';
import type { AgentConfig } from './config.ts';

/**
 * The one place a driver name becomes a driver; a Hyper-V driver is one more case here.
 * Drivers load on demand: a host only loads the code of the hypervisor it runs.
 */
export async function createDriver(config: AgentConfig): Promise<HypervisorDriver> {
  switch (config.driver) {
    case 'files': {
      const { FilesDriver } = await import('../hypervisors/files/files-driver.ts');
      return new FilesDriver({ instancesDir: config.instancesDir, roots: config.logRoots });
    }
    case 'libvirt': {
      const { LibvirtDriver } = await import('../hypervisors/libvirt/libvirt-driver.ts');
      return new LibvirtDriver({ uri: config.libvirtUri, roots: config.logRoots, instancesDir: config.instancesDir });
    }
  }
}
