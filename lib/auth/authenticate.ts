import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { VmconsoleError } from '../errors.ts';
import type { AuthConfig } from './config.ts';
import type { Principal } from './principal.ts';

/** Real tokens (Keystone Fernet, JWTs with a few claims) are far smaller; anything bigger is abuse. */
export const MAX_TOKEN_BYTES = 8192;
const MAX_ID_LENGTH = 255;

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
 * The project comes from `project_id`; a Keystone-style `project: {id}` object is accepted too,
 * because identity providers that mimic Keystone tokens emit that shape. When both are present
 * they must agree: a token naming two projects is refused rather than guessed at.
 */
function projectOf(payload: JWTPayload): string | undefined {
  const flat = payload.project_id;
  const nested = payload.project;
  const nestedId = typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? (nested as Record<string, unknown>).id : undefined;
  if (flat !== undefined && typeof flat !== 'string') throw unauthorized('The token claim project_id must be a string.');
  if (nestedId !== undefined && typeof nestedId !== 'string') throw unauthorized('The token claim project.id must be a string.');
  if (flat !== undefined && nestedId !== undefined && flat !== nestedId) {
    throw unauthorized('The token claims project_id and project.id disagree.');
  }
  return flat ?? nestedId;
}

function jwtPrincipal(payload: JWTPayload): Principal {
  const userId = payload.sub;
  if (!userId || userId.length > MAX_ID_LENGTH) throw unauthorized('The token has no valid sub claim.');
  const projectId = projectOf(payload);
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

export async function authenticate(headers: Readonly<Record<string, string | undefined>>, config: AuthConfig): Promise<Principal> {
  const token = tokenFrom(headers);
  if (config.mode === 'noauth') return noauthPrincipal(token);

  let payload: JWTPayload;
  try {
    const options = {
      algorithms: config.algorithms,
      requiredClaims: ['exp', 'sub'],
      ...(config.issuer ? { issuer: config.issuer } : {}),
      ...(config.audience ? { audience: config.audience } : {}),
    };
    payload = (await jwtVerify(token, config.key, options)).payload;
  } catch (err) {
    throw verificationFailure(err);
  }
  return jwtPrincipal(payload);
}
