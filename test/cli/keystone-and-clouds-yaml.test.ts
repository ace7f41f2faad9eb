/**
 * The CLI configured as the openstack CLI is: OS_* variables and clouds.yaml, authenticating with
 * Keystone (the stand-in, speaking the v3 wire format) and finding vmconsole in the service
 * catalog, against the real local stack in keystone mode (it validates the CLI's token with the
 * same Keystone). Real processes throughout.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { runCli } from '../helpers/cli-process.ts';
import { SERVICE_PASSWORD, startKeystoneStandIn, type KeystoneStandIn } from '../helpers/keystone-stand-in.ts';
import { startTestStack, type TestStack } from '../helpers/test-stack.ts';

const [web1, , , opsBastion] = DEMO_SERVERS;

describe('vmconsole with Keystone: OS_* variables, clouds.yaml, the service catalog', () => {
  let ks: KeystoneStandIn;
  let t: TestStack;
  const scratch = mkdtempSync(join(tmpdir(), 'vmconsole-cli-keystone-'));
  const home = join(scratch, 'home');
  const project = join(scratch, 'project');

  beforeAll(async () => {
    ks = await startKeystoneStandIn();
    t = await startTestStack('cli-keystone', {
      edgeEnv: {
        VMCONSOLE_AUTH_MODE: 'keystone',
        VMCONSOLE_KEYSTONE_URL: ks.url,
        VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole',
        VMCONSOLE_KEYSTONE_PASSWORD: SERVICE_PASSWORD,
        VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service',
        // The stack's warm-up validates seven tokens at once while every bundle loads: no 2 s on a loaded machine.
        VMCONSOLE_KEYSTONE_TIMEOUT_MS: '15000',
      },
    });
    // As a cloud registers Nova: vmconsole serves the compute API.
    ks.addService('compute', { public: `${t.stack.url}/v2.1`, internal: 'http://127.0.0.1:9/v2.1' });
    mkdirSync(join(home, '.config/openstack'), { recursive: true });
    mkdirSync(project);
  }, 240_000);
  afterAll(async () => {
    await t?.stop();
    await ks?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const osEnv = (user = 'root', password = 'root-password', projectName = 'ops') => ({
    OS_AUTH_URL: `${ks.url}/v3`, OS_USERNAME: user, OS_PASSWORD: password, OS_PROJECT_NAME: projectName,
    OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_IDENTITY_API_VERSION: '3',
  });
  const cloud = (name: string, auth: Record<string, string>, extra: Record<string, string> = {}) => [
    `  ${name}:`,
    ...Object.entries(extra).map(([k, v]) => `    ${k}: ${v}`),
    '    auth:',
    ...Object.entries(auth).map(([k, v]) => `      ${k}: ${v}`),
  ].join('\n');
  const passwordAuth = (password: string) => ({ auth_url: ks.url, username: 'root', password, project_name: 'ops', user_domain_name: 'Default', project_domain_name: 'Default' });
  const cli = (args: string[], env: Record<string, string>, cwd = project) => runCli(args, { env: { HOME: home, ...env }, cwd });
  const diagnoseBastion = ['diagnose', '--server', opsBastion.name, '--json'];

  it('OS_* password auth: a Keystone token, vmconsole from the catalog\'s public compute endpoint, the server by name', async () => {
    const before = ks.issues().length;
    const run = await cli(diagnoseBastion, osEnv());
    expect(run.code, run.stderr).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ server: { id: opsBastion.id, name: 'ops-bastion' }, diagnosis: { diagnosis: { category: 'kernel-panic' } } });
    expect(ks.issues().slice(before).map((c) => c.status)).toEqual([201]);
  });

  it('clouds.yaml: ./clouds.yaml before ~/.config/openstack/clouds.yaml, OS_CLIENT_CONFIG_FILE before both; OS_* override the cloud', async () => {
    writeFileSync(join(home, '.config/openstack/clouds.yaml'), `clouds:\n${cloud('lab', passwordAuth('wrong-home-password'))}\n`);
    const fromHome = await cli(diagnoseBastion, { OS_CLOUD: 'lab' });
    expect(fromHome.code).toBe(5);
    expect(JSON.parse(fromHome.stderr).error).toMatchObject({ code: 'Unauthorized', exitCode: 5, message: expect.stringMatching(/^Keystone at http:\/\/127\.0\.0\.1:\d+ refused to authenticate: The request you have made requires authentication\.$/) });

    writeFileSync(join(project, 'clouds.yaml'), `clouds:\n${cloud('lab', passwordAuth('root-password'), { region_name: 'RegionOne', interface: 'public' })}\n`);
    const fromCwd = await cli(['diagnose', '--server', opsBastion.name], { OS_CLOUD: 'lab' });
    expect(fromCwd.code, fromCwd.stderr).toBe(1);
    expect(fromCwd.stdout).toContain('kernel-panic (critical)');

    const explicit = join(scratch, 'explicit.yaml');
    writeFileSync(explicit, `clouds:\n${cloud('lab', passwordAuth('wrong-explicit-password'))}\n`);
    expect((await cli(diagnoseBastion, { OS_CLOUD: 'lab', OS_CLIENT_CONFIG_FILE: explicit })).code).toBe(5);
    // As the openstack CLI: an OS_* variable (or --os-* option) wins over the cloud's value.
    expect((await cli(diagnoseBastion, { OS_CLOUD: 'lab', OS_CLIENT_CONFIG_FILE: explicit, OS_PASSWORD: 'root-password' })).code).toBe(1);
    expect((await cli([...diagnoseBastion, '--os-cloud', 'lab', '--os-password', 'root-password'], { OS_CLIENT_CONFIG_FILE: explicit })).code).toBe(1);

    const unknown = await cli(diagnoseBastion, { OS_CLOUD: 'nowhere' });
    expect(unknown.code).toBe(78);
    expect(JSON.parse(unknown.stderr).error.message).toBe(`cloud nowhere is not in ${join(project, 'clouds.yaml')} (it has: lab)`);
  });

  it('admin_token with an endpoint (no catalog), v3token (OS_TOKEN + OS_AUTH_URL), compute_endpoint_override', async () => {
    const token = ks.issue('root');
    const clouds = join(scratch, 'forms.yaml');
    writeFileSync(clouds, [
      'clouds:',
      cloud('direct', { token, endpoint: `${t.stack.url}/v2.1` }, { auth_type: 'admin_token' }),
      cloud('override', passwordAuth('root-password'), { compute_endpoint_override: `${t.stack.url}/v2.1` }),
      '',
    ].join('\n'));
    expect((await cli(diagnoseBastion, { OS_CLOUD: 'direct', OS_CLIENT_CONFIG_FILE: clouds })).code).toBe(1);
    // The catalog's compute endpoint is wrong in RegionTwo's absence; the override is used instead.
    expect((await cli([...diagnoseBastion, '--os-region-name', 'RegionTwo'], { OS_CLOUD: 'override', OS_CLIENT_CONFIG_FILE: clouds })).code).toBe(1);
    const rescoped = await cli(diagnoseBastion, { OS_AUTH_URL: ks.url, OS_TOKEN: token, OS_PROJECT_NAME: 'ops', OS_PROJECT_DOMAIN_NAME: 'Default' });
    expect(rescoped.code, rescoped.stderr).toBe(1);
  });

  it('refusals: another project\'s server is not found (3); no catalog endpoint (78); Keystone unreachable (7)', async () => {
    const alice = await cli(['diagnose', '--server', web1.name], osEnv('alice', 'alice-password', 'proj-a'));
    expect(alice).toMatchObject({ code: 3, stderr: `vmconsole: No server with a name or ID of 'web-1' exists. (ServerNotFound)\n` });
    const region = await cli(diagnoseBastion, { ...osEnv(), OS_REGION_NAME: 'RegionTwo' });
    expect(region.code).toBe(78);
    expect(JSON.parse(region.stderr).error.message).toBe('the service catalog has no public compute endpoint in region RegionTwo; set compute_endpoint_override in clouds.yaml or --os-endpoint');
    const internal = await cli(diagnoseBastion, { ...osEnv(), OS_INTERFACE: 'internal' });
    expect(internal.code).toBe(7);
    expect(JSON.parse(internal.stderr).error.message).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:9: /);
    ks.setMode('hang');
    try {
      const hung = await cli([...diagnoseBastion, '--timeout', '1'], osEnv());
      expect(hung.code).toBe(7);
      expect(JSON.parse(hung.stderr).error.message).toBe(`${ks.url} did not answer within 1 s`);
    } finally {
      ks.setMode('up');
    }
  });
});
