/**
 * Regenerates test/fixtures/libvirt-xml/live-*.xml and inactive-*.xml: what libvirt really
 * emits for each console variant. Run as root: node test/harness/capture-domain-xml.ts [outDir]
 * (outDir lets you compare a fresh capture with the committed one without touching it).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLibvirt, type DomainSpec } from './libvirt.ts';

const OUT = process.argv[2] ?? fileURLToPath(new URL('../fixtures/libvirt-xml/', import.meta.url));
const nova = { name: 'web-1', projectId: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', userId: '0f9e8d7c6b5a49382716f5e4d3c2b1a0' };

const lv = await startLibvirt();
try {
  await mkdir(OUT, { recursive: true });
  const variants: Record<string, Omit<DomainSpec, 'name'>> = {
    'pty-virtlogd-nova': { console: { type: 'pty', log: join(lv.logDir, 'pty.log'), append: false }, nova },
    'tcp-log': { console: { type: 'tcp', log: join(lv.logDir, 'tcp.log'), append: true, port: 47001 } },
    file: { console: { type: 'file', log: join(lv.logDir, 'file.log') } },
    'no-console': { console: { type: 'none' } },
  };
  for (const [variant, spec] of Object.entries(variants)) {
    const uuid = await lv.create(lv.domainXml({ name: `xml-${variant}`, ...spec }), { paused: true });
    await writeFile(join(OUT, `live-${variant}.xml`), await lv.virsh('dumpxml', uuid));
    await lv.virsh('destroy', uuid);
  }
  const defined = await lv.define(lv.domainXml({ name: 'xml-stopped', console: { type: 'pty', log: join(lv.logDir, 'stopped.log') }, nova }));
  await writeFile(join(OUT, 'inactive-pty-virtlogd-nova.xml'), await lv.virsh('dumpxml', defined));
  console.log(`captured ${Object.keys(variants).length + 1} domain XML files in ${OUT}`);
} finally {
  await lv.stop();
}
