import type { Command } from 'commander';
import { CliError, EXIT_AMBIGUOUS, EXIT_API, EXIT_NOT_FOUND, EXIT_USAGE, type CliIo } from '../io.ts';
import { resolveConnection, type Connection, type ConnectionOptions } from './config.ts';
import { DEFAULT_TIMEOUT_MS, failure, networkError, send, type HttpContext } from './http.ts';
import { authenticate, endpointFromCatalog } from './keystone.ts';

/** A server as the CLI names it: what the user typed resolved to an id, and its name. */
export interface ServerRef {
  id: string;
  name: string;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Python's re.escape, as the openstack CLI escapes a name into Nova's regex `name` filter. */
export function escapeRegex(name: string): string {
  return name.replace(/[()[\]{}?*+\-|^$\\.&~# \t\n\r\v\f]/g, '\\$&');
}

/** The base URL (where /v2.1 and /vmconsole/v1 live) from a compute endpoint (`.../v2.1`, `.../v2.1/<project>`) or a base URL. */
export function baseUrlOf(endpoint: string): string {
  const url = new URL(endpoint);
  const at = url.pathname.search(/\/v2(\.1)?(\/|$)/);
  const path = at >= 0 ? url.pathname.slice(0, at) : url.pathname;
  return `${url.origin}${path}`.replace(/\/+$/, '');
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** The Accept header (JSON by default). */
  accept?: string;
  /** Nova's microversion for this request (OpenStack-API-Version: compute X.Y); none (2.1) otherwise. */
  microversion?: string | undefined;
  /** What the request is for, as error messages name it ("screenshot of web-1"). */
  what: string;
}

/**
 * The one HTTP client of the `vmconsole` commands: configuration resolved (config.ts), Keystone
 * asked once when the connection uses it, then the Nova API (`/v2.1`) and vmconsole's own API
 * (`/vmconsole/v1`) with the token, Ctrl-C and the timeout; every failure a CliError with its exit
 * code (io.ts). Commands get one with `connect(command, io)`.
 */
export class VmconsoleClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  /**
   * OS_COMPUTE_API_VERSION / --os-compute-api-version / clouds.yaml compute_api_version: for the
   * commands whose Nova call needs a microversion (url). Name lookups send none: their answer is
   * the same in every version, and an API that stops below the configured one would refuse them.
   */
  readonly computeApiVersion: string | undefined;
  readonly #http: HttpContext;

  constructor(options: { baseUrl: string; token: string | undefined; computeApiVersion?: string | undefined; http: HttpContext }) {
    this.baseUrl = options.baseUrl;
    this.#token = options.token;
    this.computeApiVersion = options.computeApiVersion;
    this.#http = options.http;
  }

  /** A request to `path` under the base URL; the response when it is 2xx, else the API's error as a CliError. */
  async request(path: string, options: RequestOptions): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    const { microversion } = options;
    const headers: Record<string, string> = { Accept: options.accept ?? 'application/json', 'User-Agent': 'vmconsole-cli' };
    if (this.#token !== undefined) headers['X-Auth-Token'] = this.#token;
    if (microversion) {
      headers['OpenStack-API-Version'] = `compute ${microversion}`;
      headers['X-OpenStack-Nova-API-Version'] = microversion;
    }
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await send(url, { method: options.method ?? 'GET', headers, ...(options.body !== undefined && { body: JSON.stringify(options.body) }) }, this.#http);
    if (res.status >= 200 && res.status < 300) return res;
    throw await failure(res, options.what);
  }

  /** A JSON request; the parsed body. */
  async json<T>(path: string, options: RequestOptions): Promise<T> {
    const res = await this.request(path, options);
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (this.#http.signal?.aborted || (err as { name?: string }).name === 'TimeoutError') throw networkError(err, `${this.baseUrl}${path}`, this.#http);
      throw new CliError(EXIT_API, `${options.what}: the API answered something that is not JSON`);
    }
  }

  /** Reads a response body to the end, with `onChunk` for progress; network failures as send() says them. */
  async bytes(res: Response, onChunk?: (bytes: number) => void): Promise<Buffer> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of res.body ?? []) {
        chunks.push(Buffer.from(chunk));
        onChunk?.(chunk.length);
      }
    } catch (err) {
      throw networkError(err, res.url || this.baseUrl, this.#http);
    }
    return Buffer.concat(chunks);
  }

  /**
   * A server by UUID or name, as the openstack CLI finds one: a UUID is looked up directly (and, if
   * no server has it, tried as a name); a name with Nova's regex filter `^<escaped name>$`, then
   * compared exactly. None is EXIT_NOT_FOUND, several EXIT_AMBIGUOUS (their ids listed).
   */
  async resolveServer(ref: string): Promise<ServerRef> {
    if (ref.trim() === '') throw new CliError(EXIT_NOT_FOUND, 'no server named ""');
    if (UUID.test(ref)) {
      try {
        const { server } = await this.json<{ server: ServerRef }>(`/v2.1/servers/${encodeURIComponent(ref)}`, { what: `server ${ref}` });
        return { id: server.id, name: server.name };
      } catch (err) {
        if (!(err instanceof CliError) || err.exitCode !== EXIT_NOT_FOUND) throw err;
      }
    }
    const query = new URLSearchParams({ name: `^${escapeRegex(ref)}$` });
    const { servers } = await this.json<{ servers: ServerRef[] }>(`/v2.1/servers?${query}`, { what: `looking up server ${ref}` });
    const exact = (servers ?? []).filter((s) => s.name === ref);
    if (exact.length === 1) return { id: exact[0]!.id, name: exact[0]!.name };
    if (exact.length === 0) throw new CliError(EXIT_NOT_FOUND, `No server with a name or ID of '${ref}' exists.`, { code: 'ServerNotFound' });
    throw new CliError(EXIT_AMBIGUOUS, `More than one server exists with the name '${ref}' (${exact.map((s) => s.id).join(', ')}); use its UUID.`, { code: 'AmbiguousName' });
  }
}

/** The `--url`, `--token` and `--os-*` options every command accepts (program-level; README lists them). */
export function addConnectionOptions(program: Command): Command {
  return program
    .option('--url <url>', "vmconsole's base URL, e.g. http://127.0.0.1:4000 [env: VMCONSOLE_URL]")
    .option('--token <token>', 'the token to send (noauth: user:project; jwt: a JWT; keystone: a Keystone token) [env: VMCONSOLE_TOKEN]')
    .option('--os-cloud <name>', 'a cloud in clouds.yaml [env: OS_CLOUD]')
    .option('--os-auth-type <type>', 'password, v3token, v3applicationcredential, admin_token, none [env: OS_AUTH_TYPE]')
    .option('--os-auth-url <url>', 'Keystone [env: OS_AUTH_URL]')
    .option('--os-username <name>', '[env: OS_USERNAME]')
    .option('--os-user-id <id>', '[env: OS_USER_ID]')
    .option('--os-password <password>', '[env: OS_PASSWORD]')
    .option('--os-project-name <name>', '[env: OS_PROJECT_NAME]')
    .option('--os-project-id <id>', '[env: OS_PROJECT_ID]')
    .option('--os-user-domain-name <name>', '[env: OS_USER_DOMAIN_NAME]')
    .option('--os-user-domain-id <id>', '[env: OS_USER_DOMAIN_ID]')
    .option('--os-project-domain-name <name>', '[env: OS_PROJECT_DOMAIN_NAME]')
    .option('--os-project-domain-id <id>', '[env: OS_PROJECT_DOMAIN_ID]')
    .option('--os-token <token>', '[env: OS_TOKEN]')
    .option('--os-endpoint <url>', 'the compute endpoint, instead of the catalog\'s [env: OS_ENDPOINT]')
    .option('--os-region-name <region>', '[env: OS_REGION_NAME]')
    .option('--os-interface <interface>', 'public, internal or admin (default public) [env: OS_INTERFACE]')
    .option('--os-compute-api-version <version>', 'Nova microversion for Nova requests [env: OS_COMPUTE_API_VERSION]')
    .option('--os-application-credential-id <id>', '[env: OS_APPLICATION_CREDENTIAL_ID]')
    .option('--os-application-credential-secret <secret>', '[env: OS_APPLICATION_CREDENTIAL_SECRET]')
    .option('--timeout <seconds>', 'give up on a request after this long (default 60)');
}

/** A client for `connection`: Keystone asked first when the connection uses it. */
export async function clientFor(connection: Connection, http: HttpContext): Promise<VmconsoleClient> {
  if (connection.kind === 'direct') {
    return new VmconsoleClient({ baseUrl: baseUrlOf(connection.endpoint), token: connection.token, computeApiVersion: connection.computeApiVersion, http });
  }
  const { token, catalog } = await authenticate(connection.authUrl, connection.auth, http);
  const endpoint = connection.endpointOverride ?? endpointFromCatalog(catalog, { interface: connection.interface, region: connection.region });
  return new VmconsoleClient({ baseUrl: baseUrlOf(endpoint), token, computeApiVersion: connection.computeApiVersion, http });
}

/** The client for a command, from its options (and the program's) and the environment. */
export async function connect(command: Command, io: CliIo): Promise<VmconsoleClient> {
  const options = command.optsWithGlobals() as ConnectionOptions & { timeout?: string };
  const timeoutS = options.timeout === undefined ? undefined : Number(options.timeout);
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS > 0 && timeoutS <= 3600)) {
    throw new CliError(EXIT_USAGE, '--timeout: expected seconds, more than 0 and at most 3600');
  }
  const connection = await resolveConnection(options, { env: io.env ?? process.env, cwd: io.cwd ?? process.cwd() });
  return clientFor(connection, { signal: io.signal, timeoutMs: timeoutS === undefined ? DEFAULT_TIMEOUT_MS : timeoutS * 1000 });
}
