import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { authenticate } from '../../lib/auth/authenticate.ts';
import { readAuthConfig, readKeystoneOptions } from '../../lib/auth/config.ts';
import { oncePerEnvironment, resolveSecretSettings } from '../../lib/auth/secrets.ts';
import { startSsmStandIn, type SsmStandIn } from '../helpers/ssm-stand-in.ts';

// Secrets in SSM SecureString, read through Powertools Parameters and the real SDK client from a
// stand-in speaking SSM's JSON protocol (fauxqs has no SSM).
const SECRET = 'ssm-held-hs256-secret-of-at-least-32-bytes';
const PARAMETER = '/vmconsole/test/jwt-secret';

let ssm: SsmStandIn;
let env: Record<string, string>;

beforeAll(async () => {
  ssm = await startSsmStandIn();
});
afterAll(async () => {
  await ssm?.close();
});
beforeEach(() => {
  ssm.calls.length = 0;
  ssm.failWith(undefined);
  ssm.put(PARAMETER, SECRET);
  env = { VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET_PARAMETER: PARAMETER, VMCONSOLE_SSM_ENDPOINT: ssm.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
});

const token = (secret: string) => new SignJWT({ sub: 'alice', project_id: 'proj-a', roles: ['member'] })
  .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(secret));

describe('auth secrets from SSM SecureString', () => {
  it('reads the HS256 secret named by VMCONSOLE_JWT_SECRET_PARAMETER, decrypted, over SSM\'s signed JSON protocol; tokens signed with it are accepted', async () => {
    const config = readAuthConfig(await resolveSecretSettings(env));
    expect(await authenticate({ 'x-auth-token': await token(SECRET) }, config)).toMatchObject({ userId: 'alice', projectId: 'proj-a' });
    expect((await authenticate({ 'x-auth-token': await token(`${SECRET}-other`) }, config).catch((e: unknown) => e))).toMatchObject({ code: 'Unauthorized' });
    expect(ssm.calls).toEqual([{ target: 'AmazonSSM.GetParameter', contentType: 'application/x-amz-json-1.1', signed: true, body: { Name: PARAMETER, WithDecryption: true } }]);
  });

  it('fills the Keystone service password or application credential secret the same way', async () => {
    ssm.put('/vmconsole/test/keystone-password', 'service-password-from-ssm');
    const keystone = { VMCONSOLE_AUTH_MODE: 'keystone', VMCONSOLE_KEYSTONE_URL: 'https://keystone.example.com', VMCONSOLE_KEYSTONE_USERNAME: 'vmconsole', VMCONSOLE_KEYSTONE_PROJECT_NAME: 'service' };
    const options = readKeystoneOptions(await resolveSecretSettings({ ...env, ...keystone, VMCONSOLE_JWT_SECRET_PARAMETER: '', VMCONSOLE_KEYSTONE_PASSWORD_PARAMETER: '/vmconsole/test/keystone-password' }));
    expect(options.credentials).toMatchObject({ method: 'password', password: 'service-password-from-ssm' });
  });

  it('asks SSM nothing when no parameter is named (local: the plain setting holds the value)', async () => {
    const local = { VMCONSOLE_AUTH_MODE: 'jwt', VMCONSOLE_JWT_SECRET: SECRET };
    expect(await resolveSecretSettings(local)).toBe(local);
    expect(ssm.calls).toEqual([]);
  });

  it('refuses a setting given both ways, a bad name, a missing parameter and SSM failing, naming the parameter and never a value', async () => {
    const refusal = (e: Record<string, string>) => resolveSecretSettings(e).then(() => 'resolved', (err: Error) => err.message);
    expect(await refusal({ ...env, VMCONSOLE_JWT_SECRET: SECRET })).toMatch(/set either VMCONSOLE_JWT_SECRET or VMCONSOLE_JWT_SECRET_PARAMETER, not both/);
    expect(await refusal({ ...env, VMCONSOLE_JWT_SECRET_PARAMETER: 'no spaces allowed' })).toMatch(/VMCONSOLE_JWT_SECRET_PARAMETER is not an SSM parameter name/);
    expect(await refusal({ ...env, VMCONSOLE_JWT_SECRET_PARAMETER: '/vmconsole/test/absent' })).toMatch(/cannot read SSM parameter \/vmconsole\/test\/absent \(VMCONSOLE_JWT_SECRET_PARAMETER\): ParameterNotFound/);
    ssm.failWith({ status: 400, type: 'ThrottlingException' });
    const throttled = await refusal(env);
    expect(throttled).toMatch(/cannot read SSM parameter \/vmconsole\/test\/jwt-secret .*ThrottlingException/);
    expect(throttled).not.toContain(SECRET);
  });

  it('reads the version a `:<version>` selector pins, so a rotation is a deploy that names the new one', async () => {
    const name = `/vmconsole/test/pinned-${Date.now()}`;
    ssm.put(name, `${SECRET}-v1`);
    ssm.put(name, `${SECRET}-v2`);
    expect((await resolveSecretSettings({ ...env, VMCONSOLE_JWT_SECRET_PARAMETER: `${name}:1` })).VMCONSOLE_JWT_SECRET).toBe(`${SECRET}-v1`);
    expect((await resolveSecretSettings({ ...env, VMCONSOLE_JWT_SECRET_PARAMETER: name })).VMCONSOLE_JWT_SECRET).toBe(`${SECRET}-v2`);
    expect(await resolveSecretSettings({ ...env, VMCONSOLE_JWT_SECRET_PARAMETER: `${name}:3` }).catch((e: Error) => e.message)).toMatch(/ParameterVersionNotFound/);
    expect(ssm.calls.map((c) => c.body.Name)).toEqual([`${name}:1`, name, `${name}:3`]);
  });

  it('reads once per execution environment: a rotated value reaches new environments (cold starts), and a failed start is retried', async () => {
    const environment = oncePerEnvironment((e) => readAuthConfig(e), () => env);
    const first = await environment();
    ssm.put(PARAMETER, `${SECRET}-rotated`);
    expect(await environment()).toBe(first);
    expect(ssm.calls).toHaveLength(1);
    expect(await authenticate({ 'x-auth-token': await token(SECRET) }, first)).toMatchObject({ userId: 'alice' });

    const cold = oncePerEnvironment((e) => readAuthConfig(e), () => env);
    ssm.failWith({ status: 500, type: 'InternalServerError' });
    await expect(cold()).rejects.toThrow(/InternalServerError/);
    ssm.failWith(undefined);
    const rotated = await cold();
    expect(await authenticate({ 'x-auth-token': await token(`${SECRET}-rotated`) }, rotated)).toMatchObject({ userId: 'alice' });
    expect(await authenticate({ 'x-auth-token': await token(SECRET) }, rotated).catch((e: unknown) => e)).toMatchObject({ code: 'Unauthorized' });
  });
});
