import { createHash } from 'node:crypto';
import { z } from 'zod';
import { VmconsoleError } from '../errors.ts';
import type { Principal } from './principal.ts';
import { TtlCache } from './ttl-cache.ts';

/**
 * How vmconsole proves itself to Keystone to validate its callers' tokens, as keystonemiddleware's
 * `password` and `v3applicationcredential` auth plugins do.
 */
export type KeystoneCredentials =
  | { method: 'password'; username: string; password: string; userDomainName: string; projectName: string; projectDomainName: string }
  | { method: 'application_credential'; id: string; secret: string };

export interface KeystoneOptions {
  /** The identity API's v3 root, `https://keystone.example.com/v3`, no trailing slash. */
  url: string;
  credentials: KeystoneCredentials;
  /** Bound on each call to Keystone, and twice this on all the calls for one token; past it, a 503. */
  timeoutMs: number;
  /** The longest a validated token is trusted without asking again (keystonemiddleware's token_cache_time). */
  cacheMs: number;
  /** How long a token Keystone refused stays refused without asking again. */
  negativeCacheMs: number;
  /** Tokens remembered at most (least recently used forgotten first). */
  cacheEntries: number;
  now?: () => number;
}

/** What Keystone said about one token, as cached: who it is, or why it is refused. */
type Verdict = { ttlMs: number } & ({ principal: Principal } | { refusal: { code: 'Unauthorized' | 'Forbidden'; message: string } });

/**
 * The v3 token body (Keystone API reference, "Validate and show information for token"; samples
 * in keystone's api-ref/source/v3/samples/admin/auth-password-project-scoped-response.json).
 * Only what vmconsole reads; everything else (catalog, methods, audit_ids, ...) is ignored.
 */
const TokenBody = z.object({
  token: z.object({
    expires_at: z.string(),
    user: z.object({ id: z.string().min(1).max(255) }),
    project: z.object({ id: z.string().min(1).max(255) }).optional(),
    roles: z.array(z.object({ name: z.string() })).optional(),
  }),
});

/** Before the service token's expires_at, it is replaced (keystoneauth1 keeps 120 s too). */
const SERVICE_TOKEN_MARGIN_MS = 120_000;

/**
 * Nova's default policy calls a project-scoped caller with the role `admin` an administrator
 * (`context_is_admin: role:admin`); oslo.policy compares role names case-insensitively.
 */
function isAdminRole(name: string): boolean {
  return name.toLowerCase() === 'admin';
}

function unavailable(detail: string, cause?: unknown): VmconsoleError {
  // keystonemiddleware answers 503 "The Keystone service is temporarily unavailable." here: the
  // caller's token may be fine, so a 401 would send clients to re-authenticate for nothing.
  return new VmconsoleError('TransportUnavailable', 'The identity service (Keystone) could not validate the token; try again later.', {
    detail: `keystone: ${detail}`,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * Validates callers' tokens against Keystone, as keystonemiddleware's auth_token does:
 * `GET /v3/auth/tokens` with the caller's token in `X-Subject-Token` and vmconsole's own service
 * token in `X-Auth-Token`. The service token comes from `POST /v3/auth/tokens` (in the
 * `X-Subject-Token` response header), is reused until shortly before its `expires_at` and fetched
 * again when Keystone answers 401 to it (revoked, or Keystone's keys rotated). Verdicts are cached
 * by the token's SHA-256 (never the token itself): a valid token for min(cacheMs, its remaining
 * life), a refused one for negativeCacheMs. Concurrent requests with one token share one call.
 */
export class KeystoneTokenValidator {
  readonly #options: KeystoneOptions;
  readonly #now: () => number;
  readonly #verdicts: TtlCache<Verdict>;
  readonly #inFlight = new Map<string, Promise<Verdict>>();
  #service: { token: string; refreshAt: number } | undefined;
  #serviceInFlight: Promise<string> | undefined;

  constructor(options: KeystoneOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#verdicts = new TtlCache(options.cacheEntries, this.#now);
  }

  async principalFor(token: string): Promise<Principal> {
    const key = createHash('sha256').update(token).digest('base64url');
    let verdict = this.#verdicts.get(key);
    if (!verdict) {
      let pending = this.#inFlight.get(key);
      if (!pending) {
        pending = this.#validate(token)
          .then((v) => {
            this.#verdicts.set(key, v, v.ttlMs);
            return v;
          })
          .finally(() => this.#inFlight.delete(key));
        this.#inFlight.set(key, pending);
      }
      verdict = await pending;
    }
    if ('refusal' in verdict) throw new VmconsoleError(verdict.refusal.code, verdict.refusal.message);
    return { ...verdict.principal, roles: [...verdict.principal.roles] };
  }

  async #validate(token: string): Promise<Verdict> {
    // A cold start asks for a service token and validates (two calls); a replaced service token
    // makes four. All of them share one budget so a slow Keystone cannot outlast the function.
    const deadline = this.#now() + 2 * this.#options.timeoutMs;
    let service = await this.#serviceToken(deadline);
    let res = await this.#call('GET', deadline, service, token);
    if (res.status === 401) {
      // Our service token is no longer good (revoked, expired early, keys rotated): get another once.
      await res.body?.cancel();
      if (this.#service?.token === service) this.#service = undefined;
      service = await this.#serviceToken(deadline);
      res = await this.#call('GET', deadline, service, token);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return this.#refusal('Unauthorized', 'The token is not valid: it has expired, was revoked or is unknown to Keystone.');
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      const why = res.status === 401 ? 'refused a freshly issued service token (401)'
        : res.status === 403 ? 'refused to validate tokens for the service user (403): give it the service role'
        : `answered ${res.status} to token validation`;
      throw unavailable(why);
    }
    const parsed = TokenBody.safeParse(await this.#json(res));
    if (!parsed.success) throw unavailable('its token body has no user id or expires_at');
    const { expires_at, user, project, roles = [] } = parsed.data.token;
    const remainingMs = Date.parse(expires_at) - this.#now();
    if (Number.isNaN(remainingMs)) throw unavailable('its token body has an unreadable expires_at');
    if (remainingMs <= 0) return this.#refusal('Unauthorized', 'The token has expired.');
    const ttlMs = Math.min(this.#options.cacheMs, remainingMs);
    if (!project) {
      // Valid, but for a domain, the system or nothing: compute resources belong to projects.
      return { ttlMs, refusal: { code: 'Forbidden', message: 'The token is not scoped to a project: ask Keystone for a project-scoped token (for example with --os-project-name).' } };
    }
    const names = roles.map((r) => r.name);
    return { ttlMs, principal: { userId: user.id, projectId: project.id, roles: names, isAdmin: names.some(isAdminRole) } };
  }

  #refusal(code: 'Unauthorized' | 'Forbidden', message: string): Verdict {
    return { ttlMs: this.#options.negativeCacheMs, refusal: { code, message } };
  }

  /** The service token, fetched at most once at a time. */
  async #serviceToken(deadline: number): Promise<string> {
    if (this.#service && this.#service.refreshAt > this.#now()) return this.#service.token;
    this.#serviceInFlight ??= this.#issueServiceToken(deadline).finally(() => {
      this.#serviceInFlight = undefined;
    });
    return this.#serviceInFlight;
  }

  async #issueServiceToken(deadline: number): Promise<string> {
    const res = await this.#call('POST', deadline, undefined, undefined, JSON.stringify({ auth: this.#authRequest() }));
    if (res.status !== 201) {
      await res.body?.cancel();
      throw unavailable(res.status === 401
        ? 'refused vmconsole\'s service credentials (401): check VMCONSOLE_KEYSTONE_* settings'
        : `answered ${res.status} to the service token request`);
    }
    const token = res.headers.get('x-subject-token');
    const parsed = z.object({ token: z.object({ expires_at: z.string() }) }).safeParse(await this.#json(res));
    const expiresAt = parsed.success ? Date.parse(parsed.data.token.expires_at) : Number.NaN;
    if (!token || Number.isNaN(expiresAt)) throw unavailable('its service token answer has no X-Subject-Token or expires_at');
    const lifeMs = expiresAt - this.#now();
    this.#service = { token, refreshAt: expiresAt - Math.min(SERVICE_TOKEN_MARGIN_MS, lifeMs / 2) };
    return token;
  }

  #authRequest(): object {
    const c = this.#options.credentials;
    if (c.method === 'application_credential') {
      // An application credential is scoped already: Keystone refuses a scope beside it.
      return { identity: { methods: ['application_credential'], application_credential: { id: c.id, secret: c.secret } } };
    }
    return {
      identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: c.userDomainName }, password: c.password } } },
      scope: { project: { name: c.projectName, domain: { name: c.projectDomainName } } },
    };
  }

  async #call(method: 'GET' | 'POST', deadline: number, serviceToken: string | undefined, subjectToken: string | undefined, body?: string): Promise<Response> {
    const waitMs = Math.min(this.#options.timeoutMs, deadline - this.#now());
    if (waitMs <= 0) throw unavailable(`no answer within ${2 * this.#options.timeoutMs} ms for this token`);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'vmconsole' };
    if (serviceToken !== undefined) headers['x-auth-token'] = serviceToken;
    if (subjectToken !== undefined) headers['x-subject-token'] = subjectToken;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await fetch(`${this.#options.url}/auth/tokens?nocatalog`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        redirect: 'error',
        signal: AbortSignal.timeout(waitMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw unavailable(timedOut ? `no answer within ${waitMs} ms` : `unreachable (${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)})`, err);
    }
  }

  async #json(res: Response): Promise<unknown> {
    try {
      return await res.json();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw unavailable(timedOut ? `no complete answer within ${this.#options.timeoutMs} ms` : 'its answer is not JSON', err);
    }
  }
}
