import { CliError, EXIT_API, EXIT_CONFIG } from '../io.ts';
import type { KeystoneAuth } from './config.ts';
import { failure, networkError, send, type HttpContext } from './http.ts';

export interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: Array<{ interface: string; region?: string; region_id?: string; url: string }>;
}

/**
 * Keystone v3 authentication (POST /v3/auth/tokens): the token comes back in X-Subject-Token, the
 * service catalog in the body. Keystone's refusal is an authentication failure (exit 5) in its own
 * words; an unreachable Keystone a network failure (exit 7).
 */
export async function authenticate(authUrl: string, auth: KeystoneAuth, context: HttpContext): Promise<{ token: string; catalog: CatalogEntry[] }> {
  const identity = auth.method === 'password'
    ? { methods: ['password'], password: { user: { ...auth.user, password: auth.password } } }
    : auth.method === 'token'
      ? { methods: ['token'], token: { id: auth.token } }
      : { methods: ['application_credential'], application_credential: { id: auth.id, secret: auth.secret } };
  const scope = auth.method !== 'application_credential' && auth.scope ? { scope: { project: auth.scope } } : {};
  const url = `${authUrl}/auth/tokens`;
  const res = await send(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'User-Agent': 'vmconsole-cli' },
    body: JSON.stringify({ auth: { identity, ...scope } }),
  }, context);
  if (!res.ok) throw await failure(res, `Keystone at ${new URL(authUrl).origin} refused to authenticate`);
  const token = res.headers.get('x-subject-token');
  let body: { token?: { catalog?: CatalogEntry[] } };
  try {
    body = (await res.json()) as typeof body;
  } catch (err) {
    if (context.signal?.aborted || (err as { name?: string }).name === 'TimeoutError') throw networkError(err, url, context);
    throw new CliError(EXIT_API, `Keystone at ${new URL(authUrl).origin} answered something that is not a token`);
  }
  if (!token) throw new CliError(EXIT_API, `Keystone at ${new URL(authUrl).origin} answered without an X-Subject-Token header`);
  return { token, catalog: Array.isArray(body.token?.catalog) ? body.token.catalog : [] };
}

/**
 * vmconsole's endpoint from the catalog: a `vmconsole` service when the cloud registers one, else
 * `compute` (vmconsole serves the Nova API), at the interface (public by default) and region asked.
 */
export function endpointFromCatalog(catalog: readonly CatalogEntry[], options: { interface: string; region?: string | undefined }): string {
  for (const type of ['vmconsole', 'compute']) {
    for (const service of catalog.filter((s) => s.type === type)) {
      const endpoint = (service.endpoints ?? []).find((e) => e.interface === options.interface && (options.region === undefined || e.region === options.region || e.region_id === options.region));
      if (endpoint) return endpoint.url.replace(/\/+$/, '');
    }
  }
  const region = options.region === undefined ? '' : ` in region ${options.region}`;
  throw new CliError(EXIT_CONFIG, `the service catalog has no ${options.interface} compute endpoint${region}; set compute_endpoint_override in clouds.yaml or --os-endpoint`);
}
