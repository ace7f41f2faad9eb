import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { load } from 'js-yaml';
import { CliError, EXIT_CONFIG } from '../io.ts';

/**
 * Where the CLI finds vmconsole and how it authenticates, as the OpenStack CLI does (README, "The
 * vmconsole CLI"), resolved once per command:
 *   1. `--url` (the base URL, e.g. http://127.0.0.1:4000), else VMCONSOLE_URL unless an `--os-*`
 *      option was given, with `--token`/VMCONSOLE_TOKEN;
 *   2. otherwise openstack's settings, each from the first of: a command-line `--os-*` option, its
 *      OS_* variable, the cloud named by `--os-cloud`/OS_CLOUD in clouds.yaml (OS_CLIENT_CONFIG_FILE,
 *      then ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml: the first
 *      file that exists, as openstacksdk looks). The same order as `openstack`, where OS_* variables
 *      override the cloud's values.
 * Keystone v3 auth types: password (v3password), token (v3token), v3applicationcredential; and,
 * without Keystone, admin_token (a token and an endpoint) and none/noauth (an endpoint).
 */
export type KeystoneAuth =
  | { method: 'password'; user: { name?: string; id?: string; domain?: { name?: string; id?: string } }; password: string; scope?: ProjectScope }
  | { method: 'token'; token: string; scope?: ProjectScope }
  | { method: 'application_credential'; id: string; secret: string };
export type ProjectScope = { id: string } | { name: string; domain?: { name?: string; id?: string } };

export type Connection =
  | { kind: 'direct'; endpoint: string; token: string | undefined; computeApiVersion: string | undefined; source: string }
  | {
      kind: 'keystone';
      authUrl: string;
      auth: KeystoneAuth;
      /** compute_endpoint_override / --os-endpoint: used instead of the catalog's endpoint. */
      endpointOverride: string | undefined;
      region: string | undefined;
      interface: string;
      computeApiVersion: string | undefined;
      source: string;
    };

/** The `--url`, `--token` and `--os-*` options (commander's camelCase names). */
export interface ConnectionOptions {
  url?: string;
  token?: string;
  osCloud?: string;
  osAuthType?: string;
  osAuthUrl?: string;
  osUsername?: string;
  osUserId?: string;
  osPassword?: string;
  osProjectName?: string;
  osProjectId?: string;
  osUserDomainName?: string;
  osUserDomainId?: string;
  osProjectDomainName?: string;
  osProjectDomainId?: string;
  osToken?: string;
  osEndpoint?: string;
  osRegionName?: string;
  osInterface?: string;
  osComputeApiVersion?: string;
  osApplicationCredentialId?: string;
  osApplicationCredentialSecret?: string;
}

/** openstack's setting names (clouds.yaml keys); the option is `--os-<name with ->`, the variable OS_<NAME>. */
const SETTINGS = [
  'auth_type', 'auth_url', 'username', 'user_id', 'password', 'project_name', 'project_id', 'user_domain_name', 'user_domain_id',
  'project_domain_name', 'project_domain_id', 'token', 'endpoint', 'region_name', 'interface', 'compute_api_version',
  'application_credential_id', 'application_credential_secret', 'compute_endpoint_override', 'vmconsole_endpoint_override',
] as const;
type Setting = (typeof SETTINGS)[number];
type Settings = Partial<Record<Setting, string>>;

/** clouds.yaml keys that live under `auth:` (the rest are the cloud's own). */
const AUTH_KEYS = new Set<Setting>(['auth_url', 'username', 'user_id', 'password', 'project_name', 'project_id', 'user_domain_name', 'user_domain_id', 'project_domain_name', 'project_domain_id', 'token', 'endpoint', 'application_credential_id', 'application_credential_secret']);
/** Older names openstacksdk still reads. */
const ALIASES: Partial<Record<string, Setting>> = { tenant_name: 'project_name', tenant_id: 'project_id', endpoint_type: 'interface', url: 'endpoint' };

export interface ConfigPlaces {
  env: NodeJS.ProcessEnv;
  cwd: string;
  home?: string;
}

/** The clouds.yaml files openstacksdk reads, in its order. */
export function cloudsYamlCandidates({ env, cwd, home = homedir() }: ConfigPlaces): string[] {
  return [
    ...(env.OS_CLIENT_CONFIG_FILE ? [resolve(cwd, env.OS_CLIENT_CONFIG_FILE)] : []),
    join(cwd, 'clouds.yaml'),
    join(env.XDG_CONFIG_HOME || join(home, '.config'), 'openstack', 'clouds.yaml'),
    '/etc/openstack/clouds.yaml',
  ];
}

async function readCloud(name: string, places: ConfigPlaces): Promise<{ settings: Settings; file: string }> {
  const candidates = cloudsYamlCandidates(places);
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new CliError(EXIT_CONFIG, `cannot read ${file}: ${(err as Error).message}`);
    }
    let doc: any;
    try {
      doc = load(text);
    } catch (err) {
      throw new CliError(EXIT_CONFIG, `${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    const clouds = doc?.clouds;
    const cloud = clouds && typeof clouds === 'object' ? clouds[name] : undefined;
    if (!cloud || typeof cloud !== 'object') {
      const known = clouds && typeof clouds === 'object' ? Object.keys(clouds) : [];
      throw new CliError(EXIT_CONFIG, `cloud ${name} is not in ${file}${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
    }
    const settings: Settings = {};
    const take = (key: string, value: unknown) => {
      const setting = (ALIASES[key] ?? key) as Setting;
      if ((SETTINGS as readonly string[]).includes(setting) && (typeof value === 'string' || typeof value === 'number')) settings[setting] ??= String(value);
    };
    for (const [key, value] of Object.entries(cloud.auth ?? {})) take(key, value);
    for (const [key, value] of Object.entries(cloud)) if (key !== 'auth' && !AUTH_KEYS.has(key as Setting)) take(key, value);
    return { settings, file };
  }
  throw new CliError(EXIT_CONFIG, `cloud ${name}: no clouds.yaml found (looked in ${candidates.join(', ')})`);
}

const optionName = (s: Setting) => `os${s.split('_').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')}` as keyof ConnectionOptions;

/** Resolves the connection, or says what to set (exit code 78). Reads clouds.yaml only when a cloud is named. */
export async function resolveConnection(options: ConnectionOptions, places: ConfigPlaces): Promise<Connection> {
  const { env } = places;
  const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
  // An option beats a variable: --os-cloud on the command line wins over an exported VMCONSOLE_URL.
  const osOptions = (Object.keys(options) as Array<keyof ConnectionOptions>).some((k) => k.startsWith('os') && k !== 'osComputeApiVersion' && nonEmpty(options[k]) !== undefined);
  const url = nonEmpty(options.url) ?? (osOptions ? undefined : nonEmpty(env.VMCONSOLE_URL));
  if (url) {
    return {
      kind: 'direct',
      endpoint: checkUrl(url, options.url ? '--url' : 'VMCONSOLE_URL'),
      token: nonEmpty(options.token) ?? nonEmpty(env.VMCONSOLE_TOKEN) ?? nonEmpty(options.osToken) ?? nonEmpty(env.OS_TOKEN),
      computeApiVersion: nonEmpty(options.osComputeApiVersion) ?? nonEmpty(env.OS_COMPUTE_API_VERSION),
      source: options.url ? '--url' : 'VMCONSOLE_URL',
    };
  }
  const cloudName = nonEmpty(options.osCloud) ?? nonEmpty(env.OS_CLOUD);
  const cloud = cloudName ? await readCloud(cloudName, places) : undefined;
  const s: Settings = {};
  for (const setting of SETTINGS) {
    s[setting] = nonEmpty(options[optionName(setting)] as string | undefined) ?? nonEmpty(env[`OS_${setting.toUpperCase()}`]) ?? nonEmpty(cloud?.settings[setting]);
  }
  s.project_name ??= nonEmpty(env.OS_TENANT_NAME);
  s.project_id ??= nonEmpty(env.OS_TENANT_ID);
  const source = cloud ? `cloud ${cloudName} in ${cloud.file}` : 'OS_* variables';
  const override = s.vmconsole_endpoint_override ?? s.compute_endpoint_override;
  if (!s.auth_url && !s.endpoint && !override && !s.token && !cloud) {
    throw new CliError(EXIT_CONFIG, 'no configuration: set VMCONSOLE_URL (and VMCONSOLE_TOKEN), the OS_* variables (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ...), or OS_CLOUD with a clouds.yaml (vmconsole --help)');
  }
  const type = (s.auth_type ?? inferAuthType(s)).toLowerCase();
  const computeApiVersion = s.compute_api_version;
  if (type === 'admin_token' || type === 'none' || type === 'noauth') {
    const endpoint = override ?? s.endpoint;
    if (!endpoint) throw new CliError(EXIT_CONFIG, `auth type ${type} needs an endpoint (--os-endpoint, OS_ENDPOINT or the cloud's auth.endpoint) (${source})`);
    if (type === 'admin_token' && !s.token) throw new CliError(EXIT_CONFIG, `auth type admin_token needs a token (--os-token, OS_TOKEN or the cloud's auth.token) (${source})`);
    // keystoneauth's noauth plugin sends the token "notused", as the openstack CLI does.
    return { kind: 'direct', endpoint: checkUrl(endpoint, 'the endpoint'), token: type === 'admin_token' ? s.token : 'notused', computeApiVersion, source };
  }
  if (!s.auth_url) throw new CliError(EXIT_CONFIG, `auth type ${type} needs an identity URL (--os-auth-url, OS_AUTH_URL or the cloud's auth.auth_url) (${source})`);
  const scope = projectScope(s);
  let auth: KeystoneAuth;
  if (type === 'password' || type === 'v3password') {
    if ((!s.username && !s.user_id) || !s.password) throw new CliError(EXIT_CONFIG, `password auth needs a username (or user id) and a password (OS_USERNAME, OS_PASSWORD) (${source})`);
    const domain = s.user_domain_id ? { id: s.user_domain_id } : s.user_domain_name ? { name: s.user_domain_name } : undefined;
    auth = { method: 'password', user: { ...(s.user_id ? { id: s.user_id } : { name: s.username! }), ...(domain && { domain }) }, password: s.password, ...(scope && { scope }) };
  } else if (type === 'token' || type === 'v3token') {
    if (!s.token) throw new CliError(EXIT_CONFIG, `token auth needs a token (OS_TOKEN) (${source})`);
    auth = { method: 'token', token: s.token, ...(scope && { scope }) };
  } else if (type === 'v3applicationcredential' || type === 'applicationcredential') {
    if (!s.application_credential_id || !s.application_credential_secret) {
      throw new CliError(EXIT_CONFIG, `application credential auth needs OS_APPLICATION_CREDENTIAL_ID and OS_APPLICATION_CREDENTIAL_SECRET (${source})`);
    }
    auth = { method: 'application_credential', id: s.application_credential_id, secret: s.application_credential_secret };
  } else {
    throw new CliError(EXIT_CONFIG, `auth type ${type} is not supported by vmconsole (password, v3password, token, v3token, v3applicationcredential, admin_token, none) (${source})`);
  }
  return {
    kind: 'keystone',
    authUrl: identityV3(checkUrl(s.auth_url, 'the identity URL')),
    auth,
    endpointOverride: override ? checkUrl(override, 'the endpoint override') : undefined,
    region: s.region_name,
    interface: (s.interface ?? 'public').replace(/URL$/, ''),
    computeApiVersion,
    source,
  };
}

function inferAuthType(s: Settings): string {
  if (s.application_credential_id) return 'v3applicationcredential';
  if (s.token && !s.auth_url) return 'admin_token';
  if (s.token && !s.password) return 'v3token';
  if (!s.auth_url && (s.endpoint || s.compute_endpoint_override || s.vmconsole_endpoint_override)) return 'none';
  return 'password';
}

function projectScope(s: Settings): ProjectScope | undefined {
  if (s.project_id) return { id: s.project_id };
  if (!s.project_name) return undefined;
  const domain = s.project_domain_id ? { id: s.project_domain_id } : s.project_domain_name ? { name: s.project_domain_name } : undefined;
  return { name: s.project_name, ...(domain && { domain }) };
}

function checkUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(EXIT_CONFIG, `${what} is not a URL: ${value}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(EXIT_CONFIG, `${what} must be an http:// or https:// URL: ${value}`);
  return value.replace(/\/+$/, '');
}

/** Keystone's v3 root from an auth_url as people write it (`http://ks:5000`, `.../v3`, `.../v3/`). */
export function identityV3(authUrl: string): string {
  const url = authUrl.replace(/\/+$/, '');
  if (/\/v3$/.test(url)) return url;
  if (/\/v2\.0$/.test(url)) throw new CliError(EXIT_CONFIG, `${authUrl} is Keystone's v2.0 API, which is gone; use its v3 URL`);
  return `${url}/v3`;
}
