import type { HypervisorDriver } from '../hypervisors/driver.ts';
import { FilesDriver } from '../hypervisors/files/files-driver.ts';
import { LibvirtDriver } from '../hypervisors/libvirt/libvirt-driver.ts';
import type { AgentConfig } from './config.ts';

/** The one place a driver name becomes a driver; a Hyper-V driver is one more case here. */
export function createDriver(config: AgentConfig): HypervisorDriver {
  switch (config.driver) {
    case 'files':
      return new FilesDriver({ instancesDir: config.instancesDir, roots: config.logRoots });
    case 'libvirt':
      return new LibvirtDriver({ uri: config.libvirtUri, roots: config.logRoots, instancesDir: config.instancesDir });
  }
}
