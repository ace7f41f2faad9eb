import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { VmconsoleError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { apiError } from './errors.ts';

/** Where vmconsole's own API lives on the shared HTTP API. */
export const API_PREFIX = '/vmconsole/v1';

/**
 * The routes this API serves (mirrors serverless.yml's `/vmconsole/v1` httpApi events), so the
 * catch-all can tell "no such resource" (404) from "wrong method for a resource we serve" (405).
 * No optional trailing slash: API Gateway does not match `/x/` to a route `/x`, so such a path
 * reaches the catch-all for every method and is unknown.
 */
const ROUTES: ReadonlyArray<{ pattern: RegExp; methods: string[] }> = [
  { pattern: /^\/vmconsole\/v1\/servers\/[^/]+\/diagnoses$/, methods: ['GET'] },
  { pattern: /^\/vmconsole\/v1\/servers\/[^/]+\/diagnose$/, methods: ['POST'] },
  { pattern: /^\/vmconsole\/v1\/servers\/[^/]+\/screenshot$/, methods: ['GET'] },
  { pattern: /^\/vmconsole\/v1\/servers\/[^/]+\/console$/, methods: ['GET'] },
  { pattern: /^\/vmconsole\/v1\/servers\/[^/]+\/consoles$/, methods: ['GET'] },
];

/**
 * Whether a (stage-less) path belongs to this API rather than the Nova one: the prefix on a
 * segment boundary, so `/vmconsole/v10/x` and `/vmconsole/v1x` are not ours.
 */
export function isApiPath(path: string): boolean {
  return path === API_PREFIX || path.startsWith(`${API_PREFIX}/`);
}

export function allowedMethods(path: string): string[] | undefined {
  return ROUTES.find((r) => r.pattern.test(path))?.methods;
}

/**
 * The catch-all's answer for a path of this API, in this API's error format (errors.ts) with the
 * request id in `x-request-id`: 405 MethodNotAllowed with Allow for a served path and the wrong
 * method, else 404 RouteNotFound.
 */
export function routeNotFound(path: string, method: string, logger: Logger): APIGatewayProxyStructuredResultV2 {
  const requestId = `req-${randomUUID()}`;
  const allowed = allowedMethods(path);
  const err = allowed
    ? new VmconsoleError('MethodNotAllowed', `The method ${method} is not allowed for this resource.`)
    : new VmconsoleError('RouteNotFound', 'The resource could not be found.');
  const { status, body } = apiError(err, { requestId, logger });
  return {
    statusCode: status,
    headers: { 'Content-Type': 'application/json', 'x-request-id': requestId, ...(allowed && { Allow: allowed.join(', ') }) },
    body: JSON.stringify(body),
  };
}
