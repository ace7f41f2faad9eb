import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NOVA_NAMESPACE, parseDomainXml, parseRemoteConsoles } from '../../../lib/hypervisors/libvirt/domain-xml.ts';
import { VmconsoleError } from '../../../lib/errors.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/libvirt-xml/', import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const LOGS = '/tmp/vmconsole-libvirt-Tm4Zyw/logs';
const NOVA_OWNER = { name: 'web-1', userId: '0f9e8d7c6b5a49382716f5e4d3c2b1a0', projectId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' };

const thrown = (fn: () => unknown): VmconsoleError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VmconsoleError);
    return err as VmconsoleError;
  }
  throw new Error('expected a VmconsoleError');
};

describe('parseDomainXml on XML captured from real libvirt', () => {
  it('live Nova-style pty with virtlogd: Nova metadata and the virtlogd log, not the pty', () => {
    expect(parseDomainXml(fixture('live-pty-virtlogd-nova.xml'))).toEqual({
      uuid: '419baf39-1747-4e29-a0f7-a4477441c2e2',
      name: 'xml-pty-virtlogd-nova',
      nova: NOVA_OWNER,
      console: { kind: 'file', path: `${LOGS}/pty.log` },
      serialLogs: [{ port: 0, path: `${LOGS}/pty.log` }],
      graphics: false,
    });
  });

  it('inactive pty with virtlogd (no pty path yet): still the log file', () => {
    expect(parseDomainXml(fixture('inactive-pty-virtlogd-nova.xml'))).toEqual({
      uuid: '1eefd4dd-c4a5-408c-b6e7-5dd30d181e40',
      name: 'xml-stopped',
      nova: NOVA_OWNER,
      console: { kind: 'file', path: `${LOGS}/stopped.log` },
      serialLogs: [{ port: 0, path: `${LOGS}/stopped.log` }],
      graphics: false,
    });
  });

  it('tcp console: its log file', () => {
    const info = parseDomainXml(fixture('live-tcp-log.xml'));
    expect(info.console).toEqual({ kind: 'file', path: `${LOGS}/tcp.log` });
    expect(info.nova).toBeUndefined();
  });

  it('file console: its source path', () => {
    expect(parseDomainXml(fixture('live-file.xml'))).toEqual({
      uuid: '028a25a6-337c-4981-bfd0-ee4768b8d12a',
      name: 'xml-file',
      console: { kind: 'file', path: `${LOGS}/file.log` },
      serialLogs: [{ port: 0, path: `${LOGS}/file.log` }],
      graphics: false,
    });
  });

  it('pre-Wallaby Nova metadata (namespace 1.0, handmade) still names the owner', () => {
    expect(parseDomainXml(fixture('handmade-pty-nova-1.0.xml'))).toEqual({
      uuid: '5c3b0e7a-91d2-4f6b-8a0e-2d4c6b8a0f13',
      name: 'instance-0000000c',
      nova: { name: 'legacy-db', userId: '6d2f0b7a1c9e4e3f8a5b4c3d2e1f0a9b', projectId: '9a8b7c6d5e4f40312a1b0c9d8e7f6a5b' },
      console: { kind: 'file', path: '/var/lib/nova/instances/5c3b0e7a-91d2-4f6b-8a0e-2d4c6b8a0f13/console.log' },
      serialLogs: [{ port: 0, path: '/var/lib/nova/instances/5c3b0e7a-91d2-4f6b-8a0e-2d4c6b8a0f13/console.log' }],
      graphics: false,
    });
  });

  it('a <graphics> device (VNC, as Nova gives guests with a screen): graphics', () => {
    const xml = `<domain type='qemu'><name>g</name><uuid>028a25a6-337c-4981-bfd0-ee4768b8d12a</uuid><devices><graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'/></devices></domain>`;
    expect(parseDomainXml(xml).graphics).toBe(true);
  });

  it('no console element: none', () => {
    expect(parseDomainXml(fixture('live-no-console.xml')).console).toEqual({ kind: 'none' });
    expect(parseDomainXml(fixture('live-no-console.xml')).serialLogs).toEqual([]);
  });
});

describe('parseDomainXml: every serial port with a log', () => {
  it('names each <serial>/<console> port whose output lands in a file, by target port; the first device of a port wins', () => {
    const info = parseDomainXml(fixture('handmade-multi-serial.xml'));
    expect(info.serialLogs).toEqual([
      // The tcp serial's virtlogd log; its <console> mirror names the same file and adds nothing.
      { port: 0, path: '/var/lib/nova/instances/8d4e2f60-1b3a-4c5d-9e7f-0a1b2c3d4e5f/console.log' },
      // Entities decoded; the later <serial> claiming port 1 again is ignored.
      { port: 1, path: '/var/lib/nova/instances/8d4e2f60-1b3a-4c5d-9e7f-0a1b2c3d4e5f/console-1 & more.log' },
      // Port 2 is a pty without a log: nothing to follow. Port 3 writes to a file source.
      { port: 3, path: '/var/log/guests/instance-0000002b-ttyS3.log' },
      // The virtio console (hvc0) with a log is no serial port.
    ]);
    // Port 0 is still where Nova reads the console.
    expect(info.console).toEqual({ kind: 'file', path: '/var/lib/nova/instances/8d4e2f60-1b3a-4c5d-9e7f-0a1b2c3d4e5f/console.log' });
  });

  it('a serial without a target port is port 0; junk and ports past 31 are none', () => {
    const domain = (devices: string) => `<domain type='qemu'><name>n</name><uuid>028a25a6-337c-4981-bfd0-ee4768b8d12a</uuid><devices>${devices}</devices></domain>`;
    expect(parseDomainXml(domain(`<serial type='pty'><log file='/l/a.log'/><target type='isa-serial'/></serial>`)).serialLogs).toEqual([{ port: 0, path: '/l/a.log' }]);
    expect(parseDomainXml(domain(`<serial type='pty'><log file='/l/a.log'/><target port='1e1'/></serial>`)).serialLogs).toEqual([]);
    expect(parseDomainXml(domain(`<serial type='pty'><log file='/l/a.log'/><target port='32'/></serial><serial type='pty'><log file='/l/b.log'/><target port='31'/></serial>`)).serialLogs).toEqual([{ port: 31, path: '/l/b.log' }]);
    // A <console> whose target is a serial port names that port (libvirt writes one for a serial it has no <serial> for).
    expect(parseDomainXml(domain(`<console type='file'><source path='/l/c.log'/><target type='serial' port='5'/></console>`)).serialLogs).toEqual([{ port: 5, path: '/l/c.log' }]);
    // A pty source is a device, not a log: never a port's file.
    expect(parseDomainXml(domain(`<serial type='pty'><source path='/dev/pts/3'/><target port='1'/></serial>`)).serialLogs).toEqual([]);
  });

  it('refuses hostile XML as before: a DOCTYPE never reaches the serial devices', () => {
    const xml = `<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>n</name><uuid>028a25a6-337c-4981-bfd0-ee4768b8d12a</uuid><devices><serial type='pty'><log file='&x;'/><target port='1'/></serial></devices></domain>`;
    expect(thrown(() => parseDomainXml(xml)).code).toBe('Internal');
  });
});

describe('parseDomainXml on handmade XML', () => {
  const domain = (inner: string, attrs = '') => `<domain type='qemu'${attrs}><name>instance-0000002a</name><uuid>AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE</uuid>${inner}</domain>`;
  const novaBlock = (prefix: string, ns = NOVA_NAMESPACE, declare = true) =>
    `<${prefix}:instance${declare ? ` xmlns:${prefix}="${ns}"` : ''}><${prefix}:name>db &amp; cache</${prefix}:name>`
    + `<${prefix}:owner><${prefix}:user uuid="user-1">alice</${prefix}:user><${prefix}:project uuid="proj-1">demo</${prefix}:project></${prefix}:owner></${prefix}:instance>`;

  it('finds Nova metadata by namespace URI whatever the prefix, and lower-cases the UUID', () => {
    const info = parseDomainXml(domain(`<metadata>${novaBlock('os')}</metadata>`));
    expect(info).toMatchObject({ uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', name: 'instance-0000002a' });
    expect(info.nova).toEqual({ name: 'db & cache', userId: 'user-1', projectId: 'proj-1' });
  });

  it('accepts the namespace declared on an ancestor', () => {
    const info = parseDomainXml(domain(`<metadata xmlns:n="${NOVA_NAMESPACE}">${novaBlock('n', NOVA_NAMESPACE, false)}</metadata>`));
    expect(info.nova?.projectId).toBe('proj-1');
  });

  it('accepts a default-namespace (unprefixed) Nova block', () => {
    const xml = domain(`<metadata><instance xmlns="${NOVA_NAMESPACE}"><name>n</name><owner><user uuid="u">x</user><project uuid="p">y</project></owner></instance></metadata>`);
    expect(parseDomainXml(xml).nova).toEqual({ name: 'n', userId: 'u', projectId: 'p' });
  });

  it('the nearest declaration of a prefix wins: a Nova prefix redeclared on <instance> is not Nova', () => {
    const xml = domain(`<metadata xmlns:nova="${NOVA_NAMESPACE}">${novaBlock('nova', 'urn:example:other')}</metadata>`);
    expect(parseDomainXml(xml).nova).toBeUndefined();
  });

  it('ignores a nova-prefixed block in another namespace: the prefix alone proves nothing', () => {
    const info = parseDomainXml(domain(`<metadata>${novaBlock('nova', 'http://example.com/not-nova')}</metadata>`));
    expect(info.nova).toBeUndefined();
    expect(info.name).toBe('instance-0000002a');
  });

  it('ignores incomplete Nova metadata (no owner)', () => {
    const xml = domain(`<metadata><nova:instance xmlns:nova="${NOVA_NAMESPACE}"><nova:name>x</nova:name></nova:instance></metadata>`);
    expect(parseDomainXml(xml).nova).toBeUndefined();
  });

  it('takes the first usable console in Nova order, whatever the document order', () => {
    const xml = domain(`<devices><console type='pty'><source path='/dev/pts/4'/></console><console type='tcp'><log file='/l/tcp.log'/></console>`
      + `<console type='file'><source path='/l/file.log'/></console></devices>`);
    expect(parseDomainXml(xml).console).toEqual({ kind: 'file', path: '/l/file.log' });
  });

  it('decodes character references in paths and names', () => {
    const xml = domain(`<devices><console type='file'><source path='/l/a&amp;b&#x20;c&#46;log'/></console></devices>`);
    expect(parseDomainXml(xml).console).toEqual({ kind: 'file', path: '/l/a&b c.log' });
  });

  it('refuses a billion-laughs DOCTYPE before parsing, fast and with nothing expanded', () => {
    const lol = ['<!ENTITY lol0 "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`)].join('');
    const xml = `<?xml version="1.0"?><!DOCTYPE domain [${lol}]><domain><name>&lol9;</name><uuid>&lol9;</uuid></domain>`;
    const started = performance.now();
    const err = thrown(() => parseDomainXml(xml));
    expect(performance.now() - started).toBeLessThan(50);
    expect(err.code).toBe('Internal');
    expect(err.message).toBe('domain XML with a DOCTYPE is refused');
  });

  it('refuses an external entity (file disclosure) before parsing', () => {
    const xml = `<!DOCTYPE domain [<!ENTITY secret SYSTEM "file:///etc/passwd">]><domain><name>&secret;</name><uuid>x</uuid></domain>`;
    expect(thrown(() => parseDomainXml(xml)).message).toBe('domain XML with a DOCTYPE is refused');
    expect(thrown(() => parseDomainXml(xml.replace('DOCTYPE', 'doctype'))).code).toBe('Internal');
  });

  it('leaves an undeclared entity reference as written', () => {
    expect(parseDomainXml(domain('').replace('instance-0000002a', 'a&secret;b')).name).toBe('a&secret;b');
  });

  it('malformed XML -> Internal, the line of the fault for the operator only', () => {
    const err = thrown(() => parseDomainXml("<domain type='qemu'>\n<name>x</name>\n<uuid>y</domain>"));
    expect(err.code).toBe('Internal');
    expect(err.message).toBe('malformed domain XML');
    expect(err.detail).toMatch(/^line 3: /);
  });

  it('XML that is not a domain, or lacks a name or UUID -> Internal', () => {
    expect(thrown(() => parseDomainXml('<network><name>x</name></network>')).message).toMatch(/no <domain>/);
    expect(thrown(() => parseDomainXml('<domain><name>x</name></domain>')).message).toMatch(/no <uuid> or <name>/);
    expect(thrown(() => parseDomainXml('')).code).toBe('Internal');
  });
});

describe('parseRemoteConsoles (live XML: where a running domain\'s consoles listen)', () => {
  const UUID = '028a25a6-337c-4981-bfd0-ee4768b8d12a';
  const live = (devices: string) => `<domain type='qemu' id='3'><name>g</name><uuid>${UUID}</uuid><devices>${devices}</devices></domain>`;

  it('Nova\'s serial console: the first <serial type=tcp> bound by the domain, captured from real libvirt', () => {
    expect(parseRemoteConsoles(fixture('live-tcp-log.xml')).serial).toEqual({ listen: '127.0.0.1', port: 47001, tlsPort: null });
  });

  it('VNC with its listen attribute, SPICE with its TLS port and a <listen> child, serial from <console> when there is no <serial>', () => {
    const xml = live(`<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>`
      + `<graphics type='spice' port='5902' tlsPort='5903' autoport='yes'><listen type='address' address='::1'/></graphics>`
      + `<console type='tcp'><source mode='bind' host='0.0.0.0' service='10001'/><target type='serial' port='0'/></console>`);
    expect(parseRemoteConsoles(xml)).toEqual({
      uuid: UUID,
      vnc: { listen: '127.0.0.1', port: 5901, tlsPort: null },
      spice: { listen: '::1', port: 5902, tlsPort: 5903 },
      serial: { listen: '0.0.0.0', port: 10001, tlsPort: null },
    });
  });

  it('an autoport not filled in (-1: not running), a connecting tcp serial, a pty serial and junk ports are no console', () => {
    const xml = live(`<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/><graphics type='spice' port='99999'/>`
      + `<serial type='tcp'><source mode='connect' host='10.0.0.5' service='4555'/></serial><serial type='pty'><source path='/dev/pts/3'/></serial>`);
    expect(parseRemoteConsoles(xml)).toEqual({ uuid: UUID });
    expect(parseRemoteConsoles(live(''))).toEqual({ uuid: UUID });
  });

  it('reads through the same hostile-XML guard as every domain XML', () => {
    expect(thrown(() => parseRemoteConsoles(`<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>${live('')}`)).message).toBe('domain XML with a DOCTYPE is refused');
  });
});
