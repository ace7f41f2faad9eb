import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const BOOT_LOGS = fileURLToPath(new URL('../../fixtures/boot-logs/', import.meta.url));

/**
 * The local demo's servers. Their console logs are real guest boot logs captured from QEMU
 * under libvirt (fixtures/boot-logs/README.md says how), laid out as Nova's instances path.
 */
export const DEMO_SERVERS = [
  {
    id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01', name: 'web-1', projectId: 'demo', userId: 'demo', state: 'active',
    logs: { 'console.log': 'clean-boot-panic.log' },
  },
  {
    id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a02', name: 'db-1', projectId: 'demo', userId: 'demo', state: 'active',
    logs: { 'console.log': 'rotated/console.log', 'console.log.0': 'rotated/console.log.0', 'console.log.1': 'rotated/console.log.1', 'console.log.2': 'rotated/console.log.2' },
  },
  {
    id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a03', name: 'batch-7', projectId: 'demo', userId: 'demo', state: 'stopped',
    logs: { 'console.log': 'clean-boot-panic.log' },
  },
  {
    id: '3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a04', name: 'ops-bastion', projectId: 'ops', userId: 'ops', state: 'active',
    logs: { 'console.log': 'clean-boot-panic.log' },
  },
] as const;

export type DemoServer = (typeof DEMO_SERVERS)[number];

/** Lay the demo servers out under `instancesDir` (recreated from scratch each start). */
export async function writeDemoInstances(instancesDir: string): Promise<void> {
  await rm(instancesDir, { recursive: true, force: true });
  for (const server of DEMO_SERVERS) {
    const dir = join(instancesDir, server.id);
    await mkdir(dir, { recursive: true });
    const { name, projectId, userId, state } = server;
    await writeFile(join(dir, 'instance.json'), JSON.stringify({ name, projectId, userId, state }, null, 2));
    for (const [target, source] of Object.entries(server.logs)) {
      await copyFile(join(BOOT_LOGS, source), join(dir, target));
    }
  }
}
