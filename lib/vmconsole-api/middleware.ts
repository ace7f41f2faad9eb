import { randomUUID } from 'node:crypto';
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { authenticate } from '../auth/authenticate.ts';
import type { AuthConfig } from '../auth/config.ts';
import type { Principal } from '../auth/principal.ts';
import { VmconsoleError } from '../errors.ts';
import type { KeyedRateLimiter } from '../limits/token-bucket.ts';
import type { Logger } from '../logger.ts';
import { requestDeadline } from '../nova-api/middleware.ts';
import { apiError } from './errors.ts';

/** What a /vmconsole/v1 handler sees. */
export interface ApiRequest {
  event: APIGatewayProxyEventV2;
  principal: Principal;
  /** `req-<uuid>`, returned as x-request-id and in every error body. */
  requestId: string;
  /** Epoch ms by which the handler must have its answer (as the Nova API's `deadline`). */
  deadline: number;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  /** Bytes instead of JSON (`body` is then ignored): sent base64-encoded to API Gateway, which delivers them as they are. */
  raw?: { bytes: Buffer; contentType: string; headers: Record<string, string> };
}

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

interface ApiState {
  requestId: string;
  headers: Readonly<Record<string, string | undefined>>;
  principal?: Principal;
  retryAfterSeconds?: number;
}
type ApiEvent = APIGatewayProxyEventV2 & { vmconsole: ApiState };
type Mw = MiddlewareObj<ApiEvent, APIGatewayProxyStructuredResultV2>;

export interface ApiOptions {
  auth: AuthConfig;
  limiter: KeyedRateLimiter;
  logger: Logger;
  /** Routes that ask a host: the longest wait for its reply, which bounds `deadline`. */
  hostWaitMs?: number;
}

/**
 * vmconsole's own API stack (`/vmconsole/v1`): JSON in and out, the Nova API's authentication
 * (lib/auth) and rate limits (one budget per project, the same limiter), and errors as
 * `{"error":{"code","message","requestId"}}` (errors.ts), not Nova faults.
 */
export function vmconsoleApi(handler: (req: ApiRequest) => Promise<ApiResponse>, options: ApiOptions): ApiHandler {
  const context: Mw = {
    before: ({ event }) => {
      event.vmconsole = { requestId: `req-${randomUUID()}`, headers: (event.headers ?? {}) as Record<string, string | undefined> };
    },
  };
  const authentication: Mw = {
    before: async ({ event }) => {
      event.vmconsole.principal = await authenticate(event.vmconsole.headers, options.auth);
    },
  };
  const rateLimit: Mw = {
    before: ({ event }) => {
      const verdict = options.limiter.take(event.vmconsole.principal!.projectId);
      if (verdict.allowed) return;
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      event.vmconsole.retryAfterSeconds = seconds;
      throw new VmconsoleError('RateLimited', `This request was rate-limited. Retry after ${seconds} s.`, {
        detail: verdict.scope === 'key' ? `project ${event.vmconsole.principal!.projectId} is over its limit` : 'the API as a whole is over its limit',
      });
    },
  };
  const responses: Mw = {
    after: (request) => {
      const result = request.response as unknown as ApiResponse;
      if (result.raw) {
        request.response = {
          statusCode: result.status,
          headers: { ...result.raw.headers, 'Content-Type': result.raw.contentType, 'x-request-id': request.event.vmconsole.requestId },
          body: result.raw.bytes.toString('base64'),
          isBase64Encoded: true,
        };
        return;
      }
      request.response = {
        statusCode: result.status,
        headers: { 'Content-Type': 'application/json', 'x-request-id': request.event.vmconsole.requestId },
        body: JSON.stringify(result.body),
      };
    },
    onError: (request) => {
      const state = request.event?.vmconsole as ApiState | undefined;
      const requestId = state?.requestId ?? `req-${randomUUID()}`;
      const { status, body } = apiError(request.error, { requestId, viewer: state?.principal, logger: options.logger });
      request.response = {
        statusCode: status,
        headers: {
          'Content-Type': 'application/json', 'x-request-id': requestId,
          ...(status === 429 && state?.retryAfterSeconds !== undefined && { 'Retry-After': String(state.retryAfterSeconds) }),
        },
        body: JSON.stringify(body),
      };
      return request.response;
    },
  };
  const lambda = middy(async (event: ApiEvent, ctx: Context) => {
    const remainingMs = ctx?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    const { requestId, principal } = event.vmconsole;
    return (await handler({ event, principal: principal!, requestId, deadline: requestDeadline(Date.now(), remainingMs, options.hostWaitMs) })) as unknown as APIGatewayProxyStructuredResultV2;
  })
    .use(httpHeaderNormalizer() as MiddlewareObj)
    .use(responses as MiddlewareObj)
    .use([context, authentication, rateLimit] as MiddlewareObj[]);
  return lambda as unknown as ApiHandler;
}

/** A handler that only answers `err` in this API's format (a function whose configuration is bad). */
export function failingApi(err: unknown, logger: Logger): ApiHandler {
  return async () => {
    const requestId = `req-${randomUUID()}`;
    const { status, body } = apiError(err, { requestId, logger });
    return { statusCode: status, headers: { 'Content-Type': 'application/json', 'x-request-id': requestId }, body: JSON.stringify(body) };
  };
}
