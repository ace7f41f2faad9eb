import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloudsYamlCandidates, identityV3, resolveConnection } from '../../lib/cli/client/config.ts';
import { baseUrlOf, escapeRegex } from '../../lib/cli/client/vmconsole-client.ts';
import { CliError } from '../../lib/cli/io.ts';

/**
 * How the CLI reads its configuration (lib/cli/client/config.ts): which source wins, openstack's
 * auth types and aliases, and the clear refusals (exit 78). The whole path, Keystone included,
 * runs in keystone-and-clouds-yaml.test.ts; these are the rules, each on its own.
 */
const dir = mkdtempSync(join(tmpdir(), 'vmconsole-cli-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const places = (env: Record<string, string>) => ({ env, cwd: dir, home: join(dir, 'home') });
const refusal = async (p: Promise<unknown>) => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).exitCode).toBe(78);
  return (err as CliError).message;
};

describe('CLI configuration', () => {
  it('VMCONSOLE_URL wins over every OS_* variable and clouds.yaml; --url and --token over the variables; --os-* options over VMCONSOLE_URL', async () => {
    const env = { VMCONSOLE_URL: 'http://127.0.0.1:4000/', VMCONSOLE_TOKEN: 'demo:demo', OS_AUTH_URL: 'http://ks:5000', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_CLOUD: 'nowhere' };
    expect(await resolveConnection({}, places(env))).toEqual({ kind: 'direct', endpoint: 'http://127.0.0.1:4000', token: 'demo:demo', computeApiVersion: undefined, source: 'VMCONSOLE_URL' });
    expect(await resolveConnection({ url: 'http://other:1', token: 'admin' }, places(env))).toMatchObject({ endpoint: 'http://other:1', token: 'admin', source: '--url' });
    // An option beats a variable: --os-cloud (or any --os-* but the microversion) over an exported VMCONSOLE_URL.
    expect(await resolveConnection({ osEndpoint: 'http://nova:8774/v2.1', osToken: 't' }, places({ VMCONSOLE_URL: env.VMCONSOLE_URL }))).toMatchObject({ kind: 'direct', endpoint: 'http://nova:8774/v2.1', token: 't', source: 'OS_* variables' });
    expect(await resolveConnection({ osComputeApiVersion: '2.6' }, places(env))).toMatchObject({ source: 'VMCONSOLE_URL', computeApiVersion: '2.6' });
  });

  it('OS_* password settings: a Keystone v3 password request scoped to the project; tenant_name and endpoint_type aliases in clouds.yaml', async () => {
    const env = { OS_AUTH_URL: 'http://ks:5000/', OS_USERNAME: 'alice', OS_PASSWORD: 'pw', OS_PROJECT_NAME: 'proj-a', OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_ID: 'default', OS_REGION_NAME: 'R1' };
    expect(await resolveConnection({}, places(env))).toEqual({
      kind: 'keystone', authUrl: 'http://ks:5000/v3', endpointOverride: undefined, region: 'R1', interface: 'public', computeApiVersion: undefined, source: 'OS_* variables',
      auth: { method: 'password', user: { name: 'alice', domain: { name: 'Default' } }, password: 'pw', scope: { name: 'proj-a', domain: { id: 'default' } } },
    });
    const file = join(dir, 'aliases.yaml');
    writeFileSync(file, 'clouds:\n  old:\n    endpoint_type: internalURL\n    auth:\n      auth_url: http://ks:5000/v3\n      username: bob\n      password: pw\n      tenant_name: legacy\n');
    expect(await resolveConnection({ osCloud: 'old' }, places({ OS_CLIENT_CONFIG_FILE: file }))).toMatchObject({
      interface: 'internal', auth: { scope: { name: 'legacy' } }, source: `cloud old in ${file}`,
    });
  });

  it('auth types: admin_token and none need an endpoint (none sends "notused", as keystoneauth), v3token, application credentials', async () => {
    expect(await resolveConnection({ osToken: 't', osEndpoint: 'http://h:4000/v2.1' }, places({}))).toMatchObject({ kind: 'direct', endpoint: 'http://h:4000/v2.1', token: 't' });
    expect(await resolveConnection({}, places({ OS_AUTH_TYPE: 'none', OS_ENDPOINT: 'http://h:4000/v2.1' }))).toMatchObject({ kind: 'direct', token: 'notused' });
    expect(await resolveConnection({}, places({ OS_AUTH_URL: 'http://ks/v3', OS_TOKEN: 't', OS_PROJECT_ID: 'p1' }))).toMatchObject({ kind: 'keystone', auth: { method: 'token', token: 't', scope: { id: 'p1' } } });
    expect(await resolveConnection({}, places({ OS_AUTH_URL: 'http://ks/v3', OS_APPLICATION_CREDENTIAL_ID: 'i', OS_APPLICATION_CREDENTIAL_SECRET: 's' }))).toMatchObject({ auth: { method: 'application_credential', id: 'i', secret: 's' } });
  });

  it('refusals say what to set: nothing configured, a missing password, an unknown auth type, a bad URL, Keystone v2.0', async () => {
    expect(await refusal(resolveConnection({}, places({})))).toMatch(/^no configuration: set VMCONSOLE_URL/);
    expect(await refusal(resolveConnection({}, places({ OS_AUTH_URL: 'http://ks/v3', OS_USERNAME: 'u' })))).toMatch(/^password auth needs a username \(or user id\) and a password/);
    expect(await refusal(resolveConnection({}, places({ OS_AUTH_URL: 'http://ks/v3', OS_AUTH_TYPE: 'v3oidcpassword' })))).toMatch(/^auth type v3oidcpassword is not supported/);
    expect(await refusal(resolveConnection({}, places({ VMCONSOLE_URL: 'ftp://x' })))).toBe('VMCONSOLE_URL must be an http:// or https:// URL: ftp://x');
    expect(await refusal(resolveConnection({}, places({ OS_AUTH_TYPE: 'admin_token', OS_ENDPOINT: 'http://h' })))).toMatch(/^auth type admin_token needs a token/);
    expect(() => identityV3('http://ks:5000/v2.0')).toThrow(/v2\.0 API, which is gone/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'clouds: [unclosed');
    expect(await refusal(resolveConnection({ osCloud: 'x' }, places({ OS_CLIENT_CONFIG_FILE: broken })))).toMatch(/broken\.yaml is not valid YAML/);
  });

  it('clouds.yaml is looked for where openstacksdk looks, in its order', () => {
    expect(cloudsYamlCandidates({ env: { OS_CLIENT_CONFIG_FILE: 'mine.yaml' }, cwd: '/work', home: '/home/u' })).toEqual([
      '/work/mine.yaml', '/work/clouds.yaml', '/home/u/.config/openstack/clouds.yaml', '/etc/openstack/clouds.yaml',
    ]);
  });

  it('names are escaped as Python\'s re.escape does; endpoints become the base URL of both APIs', () => {
    expect(escapeRegex('db (1)*.x-y')).toBe('db\\ \\(1\\)\\*\\.x\\-y');
    expect(new RegExp(`^${escapeRegex('a+b[c]$^|{2}?')}$`).test('a+b[c]$^|{2}?')).toBe(true);
    expect(baseUrlOf('http://h:4000/v2.1')).toBe('http://h:4000');
    expect(baseUrlOf('http://h:4000/v2.1/0123abcd')).toBe('http://h:4000');
    expect(baseUrlOf('https://cloud/compute/v2.1/')).toBe('https://cloud/compute');
    expect(baseUrlOf('http://h:4000/')).toBe('http://h:4000');
  });
});
