import { errors as joseErrors, jwtVerify, type JWTHeaderParameters, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { VmconsoleError } from '../errors.ts';
import type { AuthConfig } from './config.ts';
import type { Principal } from './principal.ts';

/** Real tokens (Keystone Fernet, JWTs with a few claims) are far smaller; anything bigger is abuse. */
export const MAX_TOKEN_BYTES = 8192;
const MAX_ID_LENGTH = 255;
/** How far ahead of ours an issuer's clock may be (iat), in seconds. */
export const CLOCK_SKEW_S = 60;
/**
 * The `typ` header values a token may carry when it carries one (RFC 7519 `JWT`, RFC 9068
 * `at+jwt`), compared case-insensitively and without an `application/` prefix (RFC 7515 4.1.9).
 */
const ACCEPTED_TYPES = new Set(['jwt', 'at+jwt']);

function unauthorized(message: string): VmconsoleError {
  return new VmconsoleError('Unauthorized', message);
}

/**
 * The caller's token: `X-Auth-Token` (what every OpenStack client sends), else
 * `Authorization: Bearer`. Headers must be lower-cased.
 */
function tokenFrom(headers: Readonly<Record<string, string | undefined>>): string {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '')?.[1];
  const token = headers['x-auth-token']?.trim() || bearer;
  if (!token) throw unauthorized('Authentication required: send a token in the X-Auth-Token header.');
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw unauthorized(`The token is longer than ${MAX_TOKEN_BYTES} bytes.`);
  return token;
}

/**
 * Nova's noauth2: the token is `user:project` (project defaults to the user when there is no
 * colon, so `notused`, what `openstack --os-auth-type none` sends, is user = project = notused);
 * the user `admin` is an administrator.
 */
function noauthPrincipal(token: string): Principal {
  const colon = token.indexOf(':');
  const userId = colon < 0 ? token : token.slice(0, colon);
  const projectId = colon < 0 ? token : token.slice(colon + 1) || userId;
  if (!userId || userId.length > MAX_ID_LENGTH || projectId.length > MAX_ID_LENGTH) {
    throw unauthorized('The token must be "user" or "user:project" (noauth mode).');
  }
  const isAdmin = userId === 'admin';
  return { userId, projectId, roles: isAdmin ? ['admin'] : [], isAdmin };
}

/**
 * The project comes from `project_id`; a Keystone-style `project: {id}` object and Keystone's own
 * JWS claim `openstack_project_id` (keystone/token/providers/jws/core.py) are accepted too. When
 * several are present they must agree: a token naming two projects is refused rather than guessed at.
 */
function projectOf(payload: JWTPayload): string | undefined {
  const nested = payload.project;
  const candidates: [string, unknown][] = [
    ['project_id', payload.project_id],
    ['project.id', typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? (nested as Record<string, unknown>).id : undefined],
    ['openstack_project_id', payload.openstack_project_id],
  ];
  let project: string | undefined;
  for (const [claim, value] of candidates) {
    if (value === undefined) continue;
    if (typeof value !== 'string') throw unauthorized(`The token claim ${claim} must be a string.`);
    if (project !== undefined && project !== value) throw unauthorized("The token's project claims disagree.");
    project = value;
  }
  return project;
}

/**
 * What the signature alone does not settle: the header type, a sane lifetime (a token valid for
 * centuries, or issued in the future, is a minted credential, not a session) and claim types.
 */
function checkHygiene(header: JWTHeaderParameters, payload: JWTPayload, maxLifetimeS: number, now = Date.now() / 1000): void {
  if (header.typ !== undefined) {
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : '';
    if (!ACCEPTED_TYPES.has(typ)) throw unauthorized('The token type (typ header) is not JWT or at+jwt.');
  }
  const { exp, iat } = payload;
  // jose checked that exp is a number in the future; 1e300 or Infinity (JSON's 1e400) still pass that.
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp - now > maxLifetimeS + CLOCK_SKEW_S) {
    throw unauthorized(`The token expires more than ${maxLifetimeS} s from now; this service accepts shorter-lived tokens only.`);
  }
  if (iat !== undefined) {
    if (!Number.isFinite(iat) || iat > now + CLOCK_SKEW_S) throw unauthorized('The token claim iat is in the future.');
    if (exp - iat > maxLifetimeS) throw unauthorized(`The token lifetime (exp - iat) is longer than ${maxLifetimeS} s.`);
  }
}

function jwtPrincipal(payload: JWTPayload): Principal {
  const userId: unknown = payload.sub;
  if (typeof userId !== 'string' || !userId || userId.length > MAX_ID_LENGTH) throw unauthorized('The token has no valid sub claim.');
  const projectId = projectOf(payload);
  if (projectId === undefined && (payload.openstack_domain_id !== undefined || payload.openstack_system !== undefined)) {
    // A genuine Keystone JWS token scoped to a domain or the system: valid, for no project (as in keystone mode).
    throw new VmconsoleError('Forbidden', 'The token is not scoped to a project: ask Keystone for a project-scoped token (for example with --os-project-name).');
  }
  if (!projectId || projectId.length > MAX_ID_LENGTH) throw unauthorized('The token has no project_id claim.');
  const roles = payload.roles ?? [];
  if (!Array.isArray(roles) || !roles.every((r): r is string => typeof r === 'string')) {
    throw unauthorized('The token claim roles must be an array of strings.');
  }
  return { userId, projectId, roles, isAdmin: roles.includes('admin') };
}

/** Why a token was refused, in words a user can act on; jose's own codes are stable. */
function verificationFailure(err: unknown): VmconsoleError {
  if (err instanceof joseErrors.JWTExpired) return unauthorized('The token has expired.');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return unauthorized(err.reason === 'missing' ? `The token has no ${err.claim} claim.` : `The token claim ${err.claim} is not valid.`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return unauthorized('The token is signed with an algorithm this service does not accept.');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) {
    return unauthorized('The token signature is not valid.');
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError)) {
    // The identity provider's keys could not be fetched or read: our outage, not the caller's fault.
    return new VmconsoleError('TransportUnavailable', 'The token signing keys (JWKS) could not be fetched; try again later.', { cause: err });
  }
  return unauthorized('The token is not a valid signed JWT.');
}

/**
 * jwtVerify, also when the token names no `kid` and several keys of the JWKS fit its algorithm:
 * jose then hands the candidates over (JWKSMultipleMatchingKeys) and each is tried. Keystone's JWS
 * tokens never carry a kid, and its key repository holds several keys while they rotate.
 */
async function verifyWithAnyKey(token: string, key: JWTVerifyGetKey, options: JWTVerifyOptions) {
  try {
    return await jwtVerify(token, key, options);
  } catch (err) {
    if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw err;
    for await (const candidate of err as unknown as AsyncIterable<Parameters<typeof jwtVerify>[1]>) {
      try {
        return await jwtVerify(token, candidate, options);
      } catch (inner) {
        if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new joseErrors.JWSSignatureVerificationFailed();
  }
}

export async function authenticate(headers: Readonly<Record<string, string | undefined>>, config: AuthConfig): Promise<Principal> {
  const token = tokenFrom(headers);
  if (config.mode === 'noauth') return noauthPrincipal(token);
  if (config.mode === 'keystone') return config.keystone.principalFor(token);

  let verified: { payload: JWTPayload; protectedHeader: JWTHeaderParameters };
  try {
    const options = {
      algorithms: config.algorithms,
      requiredClaims: ['exp', 'sub'],
      ...(config.issuer ? { issuer: config.issuer } : {}),
      ...(config.audience ? { audience: config.audience } : {}),
    };
    verified = await verifyWithAnyKey(token, config.key, options);
  } catch (err) {
    throw verificationFailure(err);
  }
  checkHygiene(verified.protectedHeader, verified.payload, config.maxLifetimeS);
  return jwtPrincipal(verified.payload);
}
