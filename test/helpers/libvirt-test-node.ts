import { writeFile } from 'node:fs/promises';
import { NOVA_NAMESPACE } from '../../lib/hypervisors/libvirt/domain-xml.ts';

/** A domain of libvirt's test driver (`test:///abs/node.xml`): no daemon, no QEMU; virsh reads the file at every call. */
export interface TestNodeDomain {
  name: string;
  uuid: string;
  nova?: { name: string; projectId: string; userId: string };
  /** A VNC display: `virsh screenshot` then answers the test driver's own PNG (a real image, 1120x832 grey). */
  graphics?: boolean;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/**
 * Writes a node file for libvirt's test driver. An agent with VMCONSOLE_DRIVER=libvirt and
 * VMCONSOLE_LIBVIRT_URI=test://<file> serves these domains through real virsh: the cheap way to
 * a guest with a screen on a machine without QEMU time to spare.
 */
export async function writeTestNode(file: string, domains: readonly TestNodeDomain[]): Promise<void> {
  const body = domains.map((d) => {
    const nova = d.nova
      ? `<metadata><os:instance xmlns:os="${NOVA_NAMESPACE}"><os:name>${esc(d.nova.name)}</os:name><os:owner>`
        + `<os:user uuid="${esc(d.nova.userId)}">u</os:user><os:project uuid="${esc(d.nova.projectId)}">p</os:project></os:owner></os:instance></metadata>`
      : '';
    const graphics = d.graphics ? "<graphics type='vnc' port='5901' autoport='no' listen='127.0.0.1'/><video><model type='vga'/></video>" : '';
    return `<domain type='test'><name>${esc(d.name)}</name><uuid>${d.uuid}</uuid>${nova}<memory>65536</memory><os><type>hvm</type></os><devices>${graphics}</devices></domain>`;
  });
  await writeFile(file, `<node>${body.join('')}</node>`);
}

/** The agent environment for a libvirt test-driver host over `nodeFile` (log roots and instances in `dir`). */
export function testNodeAgentEnv(nodeFile: string, dir: string): Record<string, string> {
  return { VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: `test://${nodeFile}`, VMCONSOLE_LOG_ROOTS: dir, VMCONSOLE_INSTANCES_DIR: dir };
}
