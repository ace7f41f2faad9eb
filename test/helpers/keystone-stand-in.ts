import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small Keystone (identity v3) speaking the real wire format for what vmconsole's keystone mode
 * uses, on a free loopback port:
 *   POST /v3/auth/tokens  password, token (rescope) or application_credential auth, optional project scope
 *                         -> 201, the token id in `X-Subject-Token`, `{"token": {...}}`; 401 when refused
 *   GET  /v3/auth/tokens  `X-Auth-Token` (a service token) + `X-Subject-Token` (the token to check)
 *                         -> 200 `{"token": {...}}` with `X-Subject-Token`; 404 for an unknown,
 *                         revoked or expired subject; 401 for a bad service token; 403 when the
 *                         service token's user has neither the service nor the admin role
 *   GET  /, GET /v3       version discovery (300 with `versions.values`, 200 with `version`), what
 *                         keystoneauth asks first when a client (openstack CLI) authenticates
 * `?nocatalog` leaves the catalog out, as Keystone does. The catalog lists identity, and the services
 * a test adds (`addService('compute', {public: url})`, as a cloud registers Nova). Bodies follow the Keystone API reference
 * ("Password authentication with scoped authorization", "Validate and show information for
 * token"; openstack/keystone at 30ef2ffa, api-ref/source/v3/samples/admin/auth-password-project-scoped-response.json):
 * methods, user {domain, id, name, password_expires_at}, audit_ids, expires_at and issued_at with
 * microseconds, then project {domain, id, name} + is_domain + roles [{id, name}] + catalog for a
 * project-scoped token, domain {id, name} + roles for a domain-scoped one, neither for an unscoped
 * one. Errors are Keystone's `{"error": {"code", "message", "title"}}`.
 *
 * Data: domain Default; projects service, proj-a, proj-b, ops; users vmconsole (password
 * SERVICE_PASSWORD, role service on project service; application credential APP_CREDENTIAL),
 * alice (member on proj-a), root (admin on ops), lurker (reader on proj-b, no service role).
 */
export const SERVICE_PASSWORD = 'vmconsole-service-password';
export const APP_CREDENTIAL = { id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', secret: 'app-credential-secret' };

const DOMAIN = { id: 'default', name: 'Default' };
const PROJECTS: Record<string, { id: string; name: string }> = {
  service: { id: 'f3a9c1e2d4b5a6978877665544332211', name: 'service' },
  'proj-a': { id: 'proj-a', name: 'proj-a' },
  'proj-b': { id: 'proj-b', name: 'proj-b' },
  ops: { id: 'ops', name: 'ops' },
};
const ROLES: Record<string, { id: string; name: string }> = {
  service: { id: '2b2d1a0e5c2b4a6e9a1d3c4b5a697887', name: 'service' },
  member: { id: '9fe2ff9ee4384b1894a90878d3e92bab', name: 'member' },
  reader: { id: '5e5a3a1b2c3d4e5f6a7b8c9d0e1f2a3b', name: 'reader' },
  admin: { id: '51cc68287d524c759f47c811e6463340', name: 'admin' },
};
interface User { id: string; name: string; password: string; assignments: Record<string, string[]> }
const USERS: Record<string, User> = {
  vmconsole: { id: 'c0ffee00c0ffee00c0ffee00c0ffee00', name: 'vmconsole', password: SERVICE_PASSWORD, assignments: { service: ['service'] } },
  alice: { id: 'a11ce000a11ce000a11ce000a11ce000', name: 'alice', password: 'alice-password', assignments: { 'proj-a': ['member', 'reader'] } },
  root: { id: 'ee4dfb6e5540447cb3741905149d9b6e', name: 'root', password: 'root-password', assignments: { ops: ['admin', 'member', 'reader'] } },
  lurker: { id: '10001e4c10001e4c10001e4c10001e4c', name: 'lurker', password: 'lurker-password', assignments: { 'proj-b': ['reader'] } },
};

type Scope = { project: string } | { domain: true } | undefined;
interface IssuedToken { user: User; scope: Scope; methods: string[]; issuedAt: number; expiresAt: number; revoked: boolean }

export interface KeystoneCall {
  method: string;
  /** Path and query, as sent. */
  path: string;
  authToken?: string | undefined;
  subjectToken?: string | undefined;
  status: number;
}

export interface KeystoneStandIn {
  /** The identity endpoint, without /v3 (what VMCONSOLE_KEYSTONE_URL and clouds.yaml's auth_url hold). */
  url: string;
  /** Every request, in order. */
  calls: KeystoneCall[];
  /** Requests validating `subject` (GET /v3/auth/tokens), or all validations. */
  validations(subject?: string): KeystoneCall[];
  /** Token requests (POST /v3/auth/tokens). */
  issues(): KeystoneCall[];
  /** A token as POST would issue it: `project` scope (default: the user's first project), `domain`, or unscoped. */
  issue(user: keyof typeof USERS, options?: { scope?: 'project' | 'domain' | 'unscoped'; project?: string; expiresInS?: number }): string;
  revoke(token: string): void;
  /** Revokes every token of the vmconsole service user (a password change, `openstack token revoke`). */
  revokeServiceTokens(): void;
  /** Registers a service's endpoints in the catalog (`compute` at vmconsole's /v2.1, as a cloud registers Nova), one per interface. */
  addService(type: string, urls: Partial<Record<'public' | 'internal' | 'admin', string>>, region?: string): void;
  /** `up` answers; `hang` accepts connections and never answers; `error` answers 500. */
  setMode(mode: 'up' | 'hang' | 'error'): void;
  stop(): Promise<void>;
}

/** A service in the catalog of project-scoped tokens, as Keystone lists it. */
export interface CatalogService {
  type: string;
  name: string;
  id: string;
  endpoints: Array<{ id: string; interface: string; region: string; region_id: string; url: string }>;
}

const microseconds = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

function tokenBody(t: IssuedToken, withCatalog: boolean, url: string, services: readonly CatalogService[] = []): object {
  const token: Record<string, unknown> = {
    methods: t.methods,
    user: { domain: DOMAIN, id: t.user.id, name: t.user.name, password_expires_at: null },
    audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
    expires_at: microseconds(t.expiresAt),
    issued_at: microseconds(t.issuedAt),
  };
  if (t.scope && 'project' in t.scope) {
    const project = PROJECTS[t.scope.project]!;
    token.project = { domain: DOMAIN, id: project.id, name: project.name };
    token.is_domain = false;
    token.roles = (t.user.assignments[t.scope.project] ?? []).map((r) => ROLES[r]!);
    if (withCatalog) {
      token.catalog = [
        { type: 'identity', name: 'keystone', id: 'cat-identity', endpoints: [{ id: 'ep-public', interface: 'public', region: 'RegionOne', region_id: 'RegionOne', url: `${url}/v3/` }] },
        ...services,
      ];
    }
  } else if (t.scope) {
    token.domain = DOMAIN;
    token.roles = [ROLES.admin];
    if (withCatalog) token.catalog = [];
  }
  return { token };
}

function keystoneError(res: ServerResponse, code: number, title: string, message: string): number {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message, title } }));
  return code;
}

const UNAUTHORIZED = 'The request you have made requires authentication.';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startKeystoneStandIn(): Promise<KeystoneStandIn> {
  const tokens = new Map<string, IssuedToken>();
  const calls: KeystoneCall[] = [];
  const services: CatalogService[] = [];
  let mode: 'up' | 'hang' | 'error' = 'up';
  let url = '';

  const mint = (user: User, scope: Scope, methods: string[], expiresInS = 3600): string => {
    // Opaque to clients, like a Fernet token (which starts gAAAAA).
    const id = `gAAAAA${randomBytes(48).toString('base64url')}`;
    const now = Date.now();
    tokens.set(id, { user, scope, methods, issuedAt: now, expiresAt: now + expiresInS * 1000, revoked: false });
    return id;
  };
  const live = (id: string | undefined): IssuedToken | undefined => {
    const t = id === undefined ? undefined : tokens.get(id);
    return t && !t.revoked && t.expiresAt > Date.now() ? t : undefined;
  };

  async function authenticate(req: IncomingMessage, res: ServerResponse, nocatalog: boolean): Promise<number> {
    let auth: any;
    try {
      auth = JSON.parse(await readBody(req)).auth;
    } catch {
      return keystoneError(res, 400, 'Bad Request', 'Expecting to find auth in request body.');
    }
    const methods: string[] = auth?.identity?.methods ?? [];
    let user: User;
    let scope: Scope;
    if (methods.includes('application_credential')) {
      const ac = auth.identity.application_credential;
      if (ac?.id !== APP_CREDENTIAL.id || ac?.secret !== APP_CREDENTIAL.secret) return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
      if (auth.scope) return keystoneError(res, 401, 'Unauthorized', 'Application credentials cannot request a scope.');
      user = USERS.vmconsole!;
      scope = { project: 'service' };
    } else if (methods.includes('token')) {
      // Rescoping a token the user holds (keystoneauth's v3token plugin, OS_TOKEN + OS_AUTH_URL).
      const held = live(auth.identity.token?.id);
      if (!held) return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
      user = held.user;
      const p = auth.scope?.project;
      if (p) {
        const key = Object.keys(PROJECTS).find((k) => (p.id !== undefined ? PROJECTS[k]!.id === p.id : PROJECTS[k]!.name === p.name && p.domain?.name === DOMAIN.name));
        if (!key || !user.assignments[key]) return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
        scope = { project: key };
      }
    } else if (methods.includes('password')) {
      const u = auth.identity.password?.user;
      const found = Object.values(USERS).find((c) => c.name === u?.name && u?.domain?.name === DOMAIN.name);
      if (!found || found.password !== u?.password) return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
      user = found;
      const p = auth.scope?.project;
      if (p) {
        const key = Object.keys(PROJECTS).find((k) => PROJECTS[k]!.name === p.name && p.domain?.name === DOMAIN.name);
        if (!key || !user.assignments[key]) return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
        scope = { project: key };
      }
    } else {
      return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
    }
    const id = mint(user, scope, methods);
    res.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': id, vary: 'X-Auth-Token' });
    res.end(JSON.stringify(tokenBody(tokens.get(id)!, !nocatalog, url, services)));
    return 201;
  }

  function validate(req: IncomingMessage, res: ServerResponse, nocatalog: boolean): number {
    const service = live(req.headers['x-auth-token'] as string | undefined);
    if (!service) return keystoneError(res, 401, 'Unauthorized', UNAUTHORIZED);
    const serviceRoles = service.scope && 'project' in service.scope ? service.user.assignments[service.scope.project] ?? [] : [];
    if (!serviceRoles.some((r) => r === 'service' || r === 'admin')) {
      return keystoneError(res, 403, 'Forbidden', 'You are not authorized to perform the requested action: identity:validate_token.');
    }
    const subjectId = req.headers['x-subject-token'] as string | undefined;
    if (!subjectId) return keystoneError(res, 400, 'Bad Request', 'Expecting to find X-Subject-Token in request.');
    const subject = live(subjectId);
    if (!subject) return keystoneError(res, 404, 'Not Found', `Could not find token: ${subjectId}.`);
    res.writeHead(200, { 'content-type': 'application/json', 'x-subject-token': subjectId, vary: 'X-Auth-Token' });
    res.end(JSON.stringify(tokenBody(subject, !nocatalog, url, services)));
    return 200;
  }

  const server = createServer((req, res) => {
    const call: KeystoneCall = {
      method: req.method ?? '',
      path: req.url ?? '',
      authToken: req.headers['x-auth-token'] as string | undefined,
      subjectToken: req.headers['x-subject-token'] as string | undefined,
      status: 0,
    };
    calls.push(call);
    if (mode === 'hang') return;
    const done = (status: number) => {
      call.status = status;
    };
    if (mode === 'error') return done(keystoneError(res, 500, 'Internal Server Error', 'An unexpected error prevented the server from fulfilling your request.'));
    const { pathname, searchParams } = new URL(req.url ?? '/', 'http://keystone');
    const nocatalog = searchParams.has('nocatalog');
    const path = pathname.replace(/\/$/, '');
    if (req.method === 'GET' && (path === '' || path === '/v3')) {
      const version = {
        id: 'v3.14',
        status: 'stable',
        updated: '2020-04-07T00:00:00Z',
        links: [{ rel: 'self', href: `${url}/v3/` }],
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
      };
      res.writeHead(path === '' ? 300 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(path === '' ? { versions: { values: [version] } } : { version }));
      return done(path === '' ? 300 : 200);
    }
    if (path !== '/v3/auth/tokens') return done(keystoneError(res, 404, 'Not Found', 'The resource could not be found.'));
    if (req.method === 'POST') return void authenticate(req, res, nocatalog).then(done);
    if (req.method === 'GET') return done(validate(req, res, nocatalog));
    return done(keystoneError(res, 405, 'Method Not Allowed', 'The method is not allowed for the requested URL.'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    calls,
    validations: (subject) => calls.filter((c) => c.method === 'GET' && c.path.startsWith('/v3/auth/tokens') && (subject === undefined || c.subjectToken === subject)),
    issues: () => calls.filter((c) => c.method === 'POST' && c.path.startsWith('/v3/auth/tokens')),
    issue(name, options = {}) {
      const user = USERS[name]!;
      const kind = options.scope ?? 'project';
      const scope: Scope = kind === 'project' ? { project: options.project ?? Object.keys(user.assignments)[0]! } : kind === 'domain' ? { domain: true } : undefined;
      return mint(user, scope, ['password'], options.expiresInS);
    },
    revoke(token) {
      const t = tokens.get(token);
      if (t) t.revoked = true;
    },
    revokeServiceTokens() {
      for (const t of tokens.values()) if (t.user === USERS.vmconsole) t.revoked = true;
    },
    addService(type, urls, region = 'RegionOne') {
      const endpoints = Object.entries(urls).map(([iface, endpoint]) => ({ id: `ep-${type}-${iface}`, interface: iface, region, region_id: region, url: endpoint! }));
      services.push({ type, name: type === 'compute' ? 'nova' : type, id: `cat-${type}-${services.length}`, endpoints });
    },
    setMode(next) {
      mode = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
