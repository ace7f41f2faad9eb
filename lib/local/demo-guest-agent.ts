import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalStack } from './local-stack.ts';
import { startDemoGuests, type DemoGuest } from './demo-guests.ts';

/** The host the libvirt demo guests are served from (the files demo keeps its own host). */
export const DEMO_LIBVIRT_HOST = 'demo-libvirt-1';
/** The cloud the written clouds.yaml names: `OS_CLIENT_CONFIG_FILE=<file> openstack --os-cloud vmconsole-demo ...`. */
export const DEMO_CLOUD = 'vmconsole-demo';

/**
 * `npm start -- --libvirt`, after the stack is up: the demo guests under libvirt, and a second
 * agent with the libvirt driver over them (it dials the stack's relay: stack.env carries its
 * prefixes). `setStop` receives, as soon as the guests exist, what stops the stack and then
 * destroys and undefines them; resolves once the directory lists every guest.
 */
export async function bootDemoGuests(stack: LocalStack, setStop: (stop: () => Promise<void>) => void, onLocked?: () => void): Promise<{ guests: DemoGuest[]; host: string; logDir: string; cloudsYaml: string }> {
  const demo = await startDemoGuests(stack.workDir, {
    onLocked,
    onWait: () => console.log('vmconsole: another libvirt user (a system test?) holds the machine\'s libvirt; waiting for it...'),
  });
  const cloudsYaml = join(stack.workDir, 'clouds.yaml');
  const stop = async () => {
    await stack.stop();
    await demo.stop();
    await rm(cloudsYaml, { force: true });
  };
  setStop(stop);
  const env = demo.agentEnv(DEMO_LIBVIRT_HOST);
  await stack.startAgent(env);
  const until = Date.now() + 60_000;
  for (;;) {
    const listed = new Set((await stack.directory.serversOnHost(DEMO_LIBVIRT_HOST)).map((s) => s.id));
    if (demo.guests.every((g) => listed.has(g.id))) break;
    if (Date.now() > until) throw new Error(`the libvirt agent (host ${DEMO_LIBVIRT_HOST}) did not list the demo guests within 60 s (see agent.log)`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // noauth: the token is "user:project" (README, "clouds.yaml").
  await writeFile(cloudsYaml, `clouds:\n  ${DEMO_CLOUD}:\n    auth_type: admin_token\n    auth:\n      token: demo:demo\n      endpoint: ${stack.url}/v2.1\n`);
  return { guests: demo.guests, host: DEMO_LIBVIRT_HOST, logDir: env.VMCONSOLE_LOG_ROOTS!, cloudsYaml };
}
