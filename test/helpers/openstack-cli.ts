import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { describe, it } from 'vitest';

/** Debian's python3-openstackclient and python3-novaclient, exactly as operators run them. */
export const OPENSTACK_BIN = '/usr/bin/openstack';
export const NOVA_BIN = '/usr/bin/nova';
const INSTALL_HINT = 'install with sudo bash scripts/install-openstack-clients.sh';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `none`: no token (openstack sends "notused"); otherwise the admin_token plugin sends `token`. */
export type CliAuth = 'none' | { token: string };

/**
 * Only what the clients need to run. A stray OS_* variable from the developer's shell changes how
 * they authenticate (OS_PROJECT_NAME breaks auth type none), and proxy variables would send
 * loopback traffic elsewhere, so nothing else is inherited.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

function authArgs(auth: CliAuth): string[] {
  return auth === 'none' ? ['--os-auth-type', 'none'] : ['--os-auth-type', 'admin_token', '--os-token', auth.token];
}

function run(file: string, args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${file} ${args.join(' ')} did not finish (${err.signal ?? err.code ?? err.message})\n${stderr}`, { cause: err }));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** `openstack --os-auth-type ... --os-endpoint <endpoint> <args>`; endpoint is the `/v2.1` URL. */
export function openstack(endpoint: string, auth: CliAuth, args: string[]): Promise<CliResult> {
  return run(OPENSTACK_BIN, [...authArgs(auth), '--os-endpoint', endpoint, ...args], cleanEnv());
}

/**
 * `nova --os-auth-type ... --os-endpoint <endpoint> <args>`. novaclient insists on a user, a
 * project and an auth URL from the environment even when it never contacts Keystone.
 */
export function nova(endpoint: string, auth: CliAuth, args: string[]): Promise<CliResult> {
  const dummyKeystone = { OS_USERNAME: 'x', OS_PROJECT_NAME: 'x', OS_AUTH_URL: 'http://127.0.0.1:9/' };
  return run(NOVA_BIN, [...authArgs(auth), '--os-endpoint', endpoint, ...args], cleanEnv(dummyKeystone));
}

function missingClients(): string[] {
  return [OPENSTACK_BIN, NOVA_BIN].filter((bin) => {
    try {
      accessSync(bin, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}

/**
 * A suite that needs the real clients. Without them a developer's run skips it loudly; CI must
 * never pass without having run it, so there the suite fails instead.
 */
/**
 * Each CLI run is a Python start-up of several seconds on a busy 2-core machine, and a test runs
 * up to four: the suite-wide 30 s is too short for them, not for what they check.
 */
const CLIENT_TEST_TIMEOUT_MS = 120_000;

export function describeWithOpenStackClients(name: string, body: () => void): void {
  const missing = missingClients();
  if (missing.length === 0) {
    describe(name, { timeout: CLIENT_TEST_TIMEOUT_MS }, body);
    return;
  }
  const why = `${missing.join(' and ')} not found: ${INSTALL_HINT}`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the real OpenStack clients installed', () => {
        throw new Error(`CI must run the OpenStack client suite, but ${why}`);
      });
    });
    return;
  }
  console.warn(`\n*** ${name}: SKIPPED (${why}) ***\n`);
  describe.skipIf(true)(`${name} -- SKIPPED: ${INSTALL_HINT}`, body);
}
