/**
 * Domain XML for local guests (the system-test harness, the `npm start -- --libvirt` demo): TCG (no KVM here), 256 MiB, no disk, a real kernel whose only
 * output is its boot log on ttyS0, ending in "Kernel panic - not syncing" (there is no root fs).
 * The console variants are the ones Nova's libvirt driver produces.
 */

export interface ConsoleSpec {
  /** pty (+ virtlogd log: Nova's default), tcp (+ log: Nova's serial console), file, or none. */
  type: 'pty' | 'tcp' | 'file' | 'none';
  /** virtlogd log file (pty, tcp) or the file console's path (file). */
  log?: string;
  /** virtlogd `append`; Nova writes 'off', which wipes the log and its backups at every start. */
  append?: boolean;
  /** tcp: port QEMU binds on 127.0.0.1 (raw protocol); required for tcp. */
  port?: number;
}

export interface NovaMetadata {
  name: string;
  projectId: string;
  userId: string;
}

export interface DomainSpec {
  name: string;
  uuid?: string;
  console: ConsoleSpec;
  /** Nova's instance metadata (namespace nova/1.1), as Nova's libvirt driver writes it. */
  nova?: NovaMetadata;
  /** Kernel command line extras. */
  cmdline?: string;
  /** 'restart' boots again after each panic (panic=-1); default 'destroy' keeps the panicked guest up (panic=0). */
  onReboot?: 'restart' | 'destroy';
  /** A VNC display on 127.0.0.1 (autoport), as Nova gives guests with graphics: the guest has a screen. */
  graphics?: 'vnc';
  /** An initramfs to boot into (busybox-initramfs.ts: a shell on ttyS0 instead of a panic). */
  initrd?: string;
}

const NOVA_NS = 'http://openstack.org/xmlns/libvirt/nova/1.1';

export function renderDomainXml(spec: DomainSpec, kernelPath: string): string {
  const panic = spec.onReboot === 'restart' ? 'panic=-1' : 'panic=0';
  return `<domain type='qemu'>
  <name>${esc(spec.name)}</name>
  ${spec.uuid ? `<uuid>${esc(spec.uuid)}</uuid>` : ''}
  ${spec.nova ? novaMetadata(spec.nova) : ''}
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>${esc(kernelPath)}</kernel>${spec.initrd ? `<initrd>${esc(spec.initrd)}</initrd>` : ''}<cmdline>console=ttyS0,115200n8 ${panic} ${esc(spec.cmdline ?? '')}</cmdline></os>
  <on_reboot>${spec.onReboot ?? 'destroy'}</on_reboot>
  <devices>${consoleDevices(spec.console)}${spec.graphics === 'vnc' ? "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/><video><model type='vga'/></video>" : ''}</devices>
</domain>`;
}

/** The name inside a domain XML (what `virsh create/define` registers it under). */
export function domainNameOf(xml: string): string {
  const m = /<name>([^<]+)<\/name>/.exec(xml);
  if (!m?.[1]) throw new Error('domain XML has no <name>');
  return m[1];
}

function consoleDevices(c: ConsoleSpec): string {
  const log = c.log ? `<log file='${esc(c.log)}' append='${c.append ? 'on' : 'off'}'/>` : '';
  // Nova writes the device twice: <serial> is the hardware, <console> points at serial 0.
  const pair = (type: string, inner: string) =>
    `<serial type='${type}'>${inner}<target port='0'/></serial><console type='${type}'>${inner}<target type='serial' port='0'/></console>`;
  switch (c.type) {
    case 'pty':
      return pair('pty', log);
    case 'tcp':
      if (!c.port) throw new Error('a tcp console needs a port (use freePort())');
      return pair('tcp', `<source mode='bind' host='127.0.0.1' service='${c.port}'/><protocol type='raw'/>${log}`);
    case 'file':
      if (!c.log) throw new Error('a file console needs its path in `log`');
      return pair('file', `<source path='${esc(c.log)}'/>`);
    case 'none':
      return '';
  }
}

function novaMetadata(nova: NovaMetadata): string {
  return `<metadata><nova:instance xmlns:nova="${NOVA_NS}"><nova:package version="27.0.0"/><nova:name>${esc(nova.name)}</nova:name>`
    + `<nova:creationTime>2026-11-23 00:00:00</nova:creationTime><nova:owner><nova:user uuid="${esc(nova.userId)}">demo</nova:user>`
    + `<nova:project uuid="${esc(nova.projectId)}">demo</nova:project></nova:owner></nova:instance></metadata>`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
