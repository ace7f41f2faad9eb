/**
 * What a tenant may read when a host fails: real agent processes (files driver and libvirt driver
 * with real virsh) behind the real server-action handler, over fauxqs + dynalite. Each failure is
 * provoked for real on the host; the body must carry no host path, URI, host name or stderr, a
 * 5xx must carry the request id that the header and the edge's log line carry, and admins read
 * the operator detail that tenants never see.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/server-action.ts';
import { NOVA_NAMESPACE } from '../../lib/hypervisors/libvirt/domain-xml.ts';
import { filesDriverEnv, kill, startAgentProcess } from '../helpers/agent-process.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { invoke } from '../helpers/http-event.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

const PROJECT = 'proj-t';
const TENANT = `tina:${PROJECT}`;
const ADMIN = 'admin:ops';
const FILES_HOST = 'files-host-x7';
const LIBVIRT_HOST = 'virt-host-q3';

const servers = { directory: randomUUID(), fifo: randomUUID(), socket: randomUUID(), outside: randomUUID(), libvirt: randomUUID() };

const aws = useLocalAws();
let work: string;
let nodeFile: string;
let socketServer: Server;
const agents: ChildProcess[] = [];
let deps: ReturnType<typeof edgeDependencies>;
let handler: Parameters<typeof invoke>[0];

async function startAgent(host: string, env: Record<string, string>): Promise<void> {
  agents.push(await startAgentProcess(aws.env, { host, directory: aws.directory, heartbeatMs: 500, logFile: join(work, `${host}.log`), extraEnv: env }));
}

async function instance(instancesDir: string, id: string, name: string): Promise<string> {
  const dir = join(instancesDir, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'instance.json'), JSON.stringify({ name, projectId: PROJECT, userId: 'tina' }));
  return join(dir, 'console.log');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-leak-'));
  const instancesDir = join(work, 'instances');

  await mkdir(await instance(instancesDir, servers.directory, 'log-is-a-directory'));
  execFileSync('mkfifo', [await instance(instancesDir, servers.fifo, 'log-is-a-fifo')]);
  const socketPath = await instance(instancesDir, servers.socket, 'log-is-a-socket');
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(socketPath, resolve));
  await symlink('/etc/hostname', await instance(instancesDir, servers.outside, 'log-outside-roots'));
  await startAgent(FILES_HOST, filesDriverEnv(instancesDir));

  // libvirt's test driver re-reads its node file at every virsh call: once the agent has listed the
  // domain, removing the file makes every later virsh fail like a libvirt that went away.
  nodeFile = join(work, 'node.xml');
  const logDir = join(work, 'libvirt-logs');
  await mkdir(logDir);
  await writeFile(nodeFile, `<node><domain type='test'><name>instance-0000002a</name><uuid>${servers.libvirt}</uuid>`
    + `<metadata><nova:instance xmlns:nova="${NOVA_NAMESPACE}"><nova:name>on-libvirt</nova:name><nova:owner>`
    + `<nova:user uuid="tina">t</nova:user><nova:project uuid="${PROJECT}">p</nova:project></nova:owner></nova:instance></metadata>`
    + `<memory>65536</memory><os><type>hvm</type></os><devices><console type='file'><source path='${join(logDir, 'console.log')}'/>`
    + `<target type='serial' port='0'/></console></devices></domain></node>`);
  await startAgent(LIBVIRT_HOST, { VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: `test://${nodeFile}`, VMCONSOLE_LOG_ROOTS: logDir, VMCONSOLE_INSTANCES_DIR: join(work, 'libvirt-instances') });
  await unlink(nodeFile);

  deps = edgeDependencies({ ...aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '8000' });
  handler = createHandler(deps);
}, 90_000);

afterAll(async () => {
  await Promise.all(agents.map(kill));
  socketServer?.close();
  await deps?.requester.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const ask = (serverId: string, token: string) =>
  invoke(handler, { method: 'POST', path: `/v2.1/servers/${serverId}/action`, headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body: { 'os-getConsoleOutput': {} } });

/** Host paths, URIs, host names and the stderr of virsh: none may reach a tenant. */
function expectNothingOfTheHost(body: string) {
  for (const secret of [work, '/etc/hostname', 'test://', 'node.xml', 'virsh', 'error:', 'ENXIO', FILES_HOST, LIBVIRT_HOST, 'instance-0000002a', 'console.log']) {
    expect(body, `the body shows ${secret}`).not.toContain(secret);
  }
}

describe('agent-side failures through the HTTP API', () => {
  it.each([
    ['console.log is a directory', 'directory', 'is a directory'],
    ['console.log is a FIFO', 'fifo', 'FIFO'],
    ['console.log is a unix socket', 'socket', 'socket'],
    ['console.log is a symlink out of the log roots', 'outside', 'outside'],
  ] as const)('%s: 403 with a tenant-safe refusal; admins also read the path and why', async (_, which, why) => {
    const refusal = 'The console log of this server is outside what vmconsole may read on its host.';
    const tenant = await ask(servers[which], TENANT);
    expect(tenant.status, tenant.raw.body).toBe(403);
    expect(tenant.json).toEqual({ forbidden: { code: 403, message: refusal } });
    expectNothingOfTheHost(tenant.raw.body!);

    const admin = await ask(servers[which], ADMIN);
    expect(admin.status, admin.raw.body).toBe(403);
    const message: string = admin.json.forbidden.message;
    expect(message.startsWith(`${refusal} (operator detail: host ${FILES_HOST}: `), message).toBe(true);
    expect(message).toContain(work);
    expect(message).toContain(why);
  });

  it('libvirt went away (real virsh fails): 500 with a generic text and the request id; the detail goes to the log and to admins only', async () => {
    const tenant = await ask(servers.libvirt, TENANT);
    const requestId = tenant.headers['x-openstack-request-id']!;
    expect(requestId).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(tenant.status, tenant.raw.body).toBe(500);
    expect(tenant.json).toEqual({ computeFault: { code: 500, message: `Unexpected API Error. The request ${requestId} failed; the operator log has the details.` } });
    expectNothingOfTheHost(tenant.raw.body!);

    const logged = deps.logger.entries.filter((e) => e.data.requestId === requestId);
    const failures = logged.filter((e) => e.level === 'error');
    expect(failures, 'one error line under the request id').toHaveLength(1);
    expect(failures[0]).toMatchObject({ level: 'error', data: { code: 'Internal', status: 500, reason: 'cannot connect to libvirt' } });
    expect(String(failures[0]!.data.detail)).toContain('test://');
    // The request's own line says how it ended; the detail is on the error line only.
    expect(logged.find((e) => e.message === 'request')).toMatchObject({ level: 'info', data: { status: 500, outcome: 'Internal' } });
    expect(JSON.stringify(logged.filter((e) => e.level !== 'error'))).not.toContain('test://');

    const admin = await ask(servers.libvirt, ADMIN);
    expect(admin.status).toBe(500);
    const adminId = admin.headers['x-openstack-request-id']!;
    expect(admin.json.computeFault.message).toMatch(new RegExp(`^Unexpected API Error\\. The request ${adminId} failed; the operator log has the details\\. \\(operator detail: cannot connect to libvirt; host ${LIBVIRT_HOST}: .+\\)$`));
    expect(admin.json.computeFault.message).toContain('test://');
  });
});
