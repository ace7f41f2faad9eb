import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { VmconsoleError } from '../../errors.ts';
import { consoleLocation, type ConsoleDevice, type ConsoleLocation } from './console-location.ts';

/** Nova's metadata namespace since Wallaby; the prefix is whatever the writer chose. */
export const NOVA_NAMESPACE = 'http://openstack.org/xmlns/libvirt/nova/1.1';
/**
 * Nova before Wallaby wrote the same owner layout under 1.0, and a guest keeps its XML until Nova
 * regenerates it (hard reboot, migration): ignoring 1.0 would hide such guests from their owners.
 */
export const NOVA_NAMESPACES: ReadonlySet<string> = new Set([NOVA_NAMESPACE, 'http://openstack.org/xmlns/libvirt/nova/1.0']);

export interface DomainInfo {
  /** Lower case, as ServerId and the directory use it. */
  uuid: string;
  /** libvirt's domain name (Nova's instance-XXXXXXXX). */
  name: string;
  /** Present when Nova wrote `<nova:instance>` metadata. */
  nova?: { name: string; projectId: string; userId: string };
  console: ConsoleLocation;
  /**
   * Every serial port whose output lands in a file (a `<log file=...>`, or a file source), by
   * `<target port=...>`, in the domain's order; a port named twice keeps its first device (a
   * `<console>` mirrors its `<serial>`). `<console>`s of other target types (virtio, sclp) are not
   * serial ports.
   */
  serialLogs: { port: number; path: string }[];
  /** A `<graphics>` device (vnc, spice, ...): the guest has a screen to take a picture of. */
  graphics: boolean;
}

type Element = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  // Entities stay as written; the five predefined ones and character references are decoded
  // below, so no declaration can ever make the parser expand anything.
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/**
 * The parts of libvirt domain XML vmconsole needs. A DOCTYPE is refused before parsing: libvirt
 * never emits one, and entity declarations are how XML bombs and external entities get in.
 */
export function parseDomainXml(xml: string): DomainInfo {
  const { domain, uuid, name } = domainElement(xml);
  const nova = novaInstance(domain);
  const devices = first(domain.devices);
  const consoles = isElement(devices) ? elements(devices.console).map(consoleDevice) : [];
  const graphics = isElement(devices) && elements(devices.graphics).length > 0;
  return { uuid, name, ...(nova && { nova }), console: consoleLocation(consoles), serialLogs: serialLogs(devices), graphics };
}

/** The highest serial port a console API names (lib/contracts ConsolePort). */
const MAX_SERIAL_PORT = 31;

function serialLogs(devices: unknown): DomainInfo['serialLogs'] {
  if (!isElement(devices)) return [];
  const found = new Map<number, string>();
  const add = (el: Element, isConsole: boolean) => {
    const target = first(el.target);
    const targetType = attr(target, 'type');
    if (isConsole && targetType !== undefined && targetType !== 'serial') return;
    const raw = attr(target, 'port') ?? '0';
    if (!/^\d{1,2}$/.test(raw) || Number(raw) > MAX_SERIAL_PORT) return;
    const device = consoleDevice(el);
    const path = device.logFile ?? (device.type === 'file' ? device.sourcePath : undefined);
    if (path && !found.has(Number(raw))) found.set(Number(raw), path);
  };
  for (const el of elements(devices.serial)) add(el, false);
  for (const el of elements(devices.console)) add(el, true);
  return [...found].map(([port, path]) => ({ port, path })).sort((a, b) => a.port - b.port);
}

/** The checked `<domain>` element and its identity: the one way XML from libvirt is read. */
function domainElement(xml: string): { domain: Element; uuid: string; name: string } {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new VmconsoleError('Internal', 'domain XML with a DOCTYPE is refused');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    const { msg, line } = valid.err;
    throw new VmconsoleError('Internal', 'malformed domain XML', { detail: `line ${line}: ${msg.slice(0, 200)}` });
  }
  const domain = (parser.parse(xml) as Element).domain;
  if (!isElement(domain)) throw new VmconsoleError('Internal', 'domain XML has no <domain> element');
  const uuid = text(first(domain.uuid))?.toLowerCase();
  const name = text(first(domain.name));
  if (!uuid || !name) throw new VmconsoleError('Internal', 'domain XML has no <uuid> or <name>');
  return { domain, uuid, name };
}

/** Where one remote console of a running domain listens: the address it is bound to, its port(s). */
export interface ListeningConsole {
  /** The listen address the domain names (libvirt's `listen`, a `<listen type='address'>`, a tcp source's `host`); undefined when it names none. */
  listen: string | undefined;
  port: number;
  tlsPort: number | null;
}

/** The remote consoles a live domain XML shows listening; a protocol is absent when it has none. */
export interface RemoteConsoles {
  uuid: string;
  vnc?: ListeningConsole;
  spice?: ListeningConsole;
  serial?: ListeningConsole;
}

/**
 * The remote consoles as Nova's libvirt driver finds them, from the LIVE XML (autoport fills the
 * ports in at start; an inactive domain or an unfilled autoport says -1 or nothing: absent).
 * VNC and SPICE: the first `devices/graphics` of the type. Serial: the first `<serial type='tcp'>`
 * whose source binds (mode='bind'), else the first such `<console>` (Nova's
 * _get_serial_ports_from_guest); its port is the TCP service.
 */
export function parseRemoteConsoles(xml: string): RemoteConsoles {
  const { domain, uuid } = domainElement(xml);
  const devices = first(domain.devices);
  if (!isElement(devices)) return { uuid };
  const graphics = (type: string): ListeningConsole | undefined => {
    const el = elements(devices.graphics).find((g) => attr(g, 'type') === type);
    const port = portOf(attr(el, 'port'));
    if (!el || port === undefined) return undefined;
    const listenEl = elements(el.listen).find((l) => attr(l, 'type') === 'address' && attr(l, 'address'));
    return { listen: attr(el, 'listen') ?? attr(listenEl, 'address'), port, tlsPort: portOf(attr(el, 'tlsPort')) ?? null };
  };
  const tcpBind = (tag: 'serial' | 'console'): ListeningConsole | undefined => {
    for (const device of elements(devices[tag])) {
      if (attr(device, 'type') !== 'tcp') continue;
      const source = elements(device.source).find((s) => attr(s, 'mode') === 'bind');
      const port = portOf(attr(source, 'service'));
      if (source && port !== undefined) return { listen: attr(source, 'host'), port, tlsPort: null };
    }
    return undefined;
  };
  const vnc = graphics('vnc');
  const spice = graphics('spice');
  const serial = tcpBind('serial') ?? tcpBind('console');
  return { uuid, ...(vnc && { vnc }), ...(spice && { spice }), ...(serial && { serial }) };
}

/** A port libvirt filled in; -1 (autoport not yet assigned: not running) and junk are none. */
function portOf(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d{1,5}$/.test(raw)) return undefined;
  const port = Number(raw);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function consoleDevice(el: Element): ConsoleDevice {
  return { type: attr(el, 'type'), sourcePath: attr(first(el.source), 'path'), logFile: attr(first(el.log), 'file') };
}

/** `<nova:instance>` found by its namespace URI, declared on it or on an ancestor. */
function novaInstance(domain: Element): DomainInfo['nova'] {
  const metadata = first(domain.metadata);
  if (!isElement(metadata)) return undefined;
  for (const [tag, value] of Object.entries(metadata)) {
    const { prefix, local } = splitTag(tag);
    if (local !== 'instance') continue;
    const xmlns = prefix ? `xmlns:${prefix}` : 'xmlns';
    for (const instance of elements(value)) {
      const namespace = [instance, metadata, domain].map((el) => attr(el, xmlns)).find((uri) => uri !== undefined);
      if (namespace === undefined || !NOVA_NAMESPACES.has(namespace)) continue;
      const child = (el: unknown, n: string) => (isElement(el) ? first(el[prefix ? `${prefix}:${n}` : n]) : undefined);
      const owner = child(instance, 'owner');
      const name = text(child(instance, 'name'));
      const userId = attr(child(owner, 'user'), 'uuid');
      const projectId = attr(child(owner, 'project'), 'uuid');
      if (name && userId && projectId) return { name, userId, projectId };
    }
  }
  return undefined;
}

function splitTag(tag: string): { prefix: string; local: string } {
  const colon = tag.indexOf(':');
  return colon < 0 ? { prefix: '', local: tag } : { prefix: tag.slice(0, colon), local: tag.slice(colon + 1) };
}

function isElement(node: unknown): node is Element {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

/** The parser gives one child as a value and repeated children as an array; elements only. */
function elements(node: unknown): Element[] {
  const all = Array.isArray(node) ? node : node === undefined ? [] : [node];
  return all.map((n) => (typeof n === 'string' ? { '#text': n } : n)).filter(isElement);
}

function first(node: unknown): unknown {
  return Array.isArray(node) ? node[0] : node;
}

function text(node: unknown): string | undefined {
  const raw = typeof node === 'string' ? node : isElement(node) ? node['#text'] : undefined;
  return typeof raw === 'string' && raw !== '' ? decodeXml(raw) : undefined;
}

function attr(node: unknown, name: string): string | undefined {
  const raw = isElement(node) ? node[`@_${name}`] : undefined;
  return typeof raw === 'string' && raw !== '' ? decodeXml(raw) : undefined;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML's predefined entities and character references: all libvirt ever writes. */
function decodeXml(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (whole, ref: string) => {
    if (ref[0] !== '#') return PREDEFINED[ref] ?? whole;
    const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}
