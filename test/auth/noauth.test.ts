import { describe, expect, it } from 'vitest';
import { authenticate, MAX_TOKEN_BYTES } from '../../lib/auth/authenticate.ts';
import { readAuthConfig } from '../../lib/auth/config.ts';
import { canSee } from '../../lib/auth/principal.ts';

const config = readAuthConfig({ VMCONSOLE_AUTH_MODE: 'noauth' });

async function rejected(headers: Record<string, string>): Promise<string> {
  const err = await authenticate(headers, config).then(() => undefined, (e: unknown) => e);
  expect(err).toMatchObject({ code: 'Unauthorized', status: 401 });
  return (err as Error).message;
}

describe('noauth (Nova noauth2)', () => {
  it('user:project', async () => {
    expect(await authenticate({ 'x-auth-token': 'alice:proj-a' }, config)).toEqual({ userId: 'alice', projectId: 'proj-a', roles: [], isAdmin: false });
  });

  it('project defaults to the user without a colon (openstack --os-auth-type none sends "notused")', async () => {
    expect(await authenticate({ 'x-auth-token': 'notused' }, config)).toEqual({ userId: 'notused', projectId: 'notused', roles: [], isAdmin: false });
    expect(await authenticate({ 'x-auth-token': 'bob:' }, config)).toMatchObject({ userId: 'bob', projectId: 'bob' });
  });

  it('the user admin is an administrator, of any project', async () => {
    expect(await authenticate({ 'x-auth-token': 'admin:ops' }, config)).toEqual({ userId: 'admin', projectId: 'ops', roles: ['admin'], isAdmin: true });
    expect(await authenticate({ 'x-auth-token': 'administrator:ops' }, config)).toMatchObject({ isAdmin: false });
  });

  it('accepts a Bearer token too', async () => {
    expect(await authenticate({ authorization: 'Bearer carol:p' }, config)).toMatchObject({ userId: 'carol', projectId: 'p' });
  });

  it('refuses a missing, empty, user-less or oversized token', async () => {
    expect(await rejected({})).toMatch(/X-Auth-Token/);
    expect(await rejected({ 'x-auth-token': '   ' })).toMatch(/X-Auth-Token/);
    expect(await rejected({ 'x-auth-token': ':proj' })).toMatch(/user:project/);
    expect(await rejected({ 'x-auth-token': 'u'.repeat(MAX_TOKEN_BYTES + 1) })).toMatch(/longer than 8192 bytes/);
  });
});

describe('canSee', () => {
  const server = { projectId: 'proj-a' };
  it('same project or admin only', () => {
    expect(canSee({ userId: 'u', projectId: 'proj-a', roles: [], isAdmin: false }, server)).toBe(true);
    expect(canSee({ userId: 'u', projectId: 'proj-b', roles: [], isAdmin: false }, server)).toBe(false);
    expect(canSee({ userId: 'admin', projectId: 'proj-b', roles: ['admin'], isAdmin: true }, server)).toBe(true);
  });
});
