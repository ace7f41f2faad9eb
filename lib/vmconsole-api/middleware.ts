import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { authenticate } from '../auth/authenticate.ts';
import type { AuthConfig } from '../auth/config.ts';
import type { Principal } from '../auth/principal.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import type { KeyedRateLimiter } from '../limits/token-bucket.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { edgeMetrics, kindOf, requestDeadline } from '../nova-api/middleware.ts';
import { newRequestId, requestIdFrom } from '../nova-api/request-id.ts';
import { writeRequestLine } from '../request-line.ts';
import { apiError } from './errors.ts';

/** What a /vmconsole/v1 handler sees. */
export interface ApiRequest {
  event: APIGatewayProxyEventV2;
  principal: Principal;
  /** `req-<uuid>` (the caller's x-request-id when it has that shape), returned as x-request-id and in every error body. */
  requestId: string;
  /** Epoch ms by which the handler must have its answer (as the Nova API's `deadline`). */
  deadline: number;
}

/** A JSON body, or bytes of another type (an image) that API Gateway returns base64-decoded. */
export type ApiResponse =
  | { status: number; body: unknown; headers?: Record<string, string> }
  | { status: number; bytes: Buffer; contentType: string; headers?: Record<string, string> };

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

interface ApiState {
  requestId: string;
  startedAt: number;
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
  /** Where each request's EMF line goes (default: the edge's). */
  metrics?: Metrics;
}

/**
 * vmconsole's own API stack (`/vmconsole/v1`): JSON in and out, the Nova API's authentication
 * (lib/auth) and rate limits (one budget per project, the same limiter), and errors as
 * `{"error":{"code","message","requestId"}}` (errors.ts), not Nova faults.
 */
export function vmconsoleApi(handler: (req: ApiRequest) => Promise<ApiResponse>, options: ApiOptions): ApiHandler {
  const context: Mw = {
    before: ({ event }) => {
      const headers = (event.headers ?? {}) as Record<string, string | undefined>;
      event.vmconsole = { requestId: requestIdFrom(headers['x-request-id']), headers, startedAt: Date.now() };
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
  const metrics = options.metrics ?? edgeMetrics;
  const accountFor = (event: ApiEvent | undefined, status: number, outcome: string) => {
    const state = event?.vmconsole;
    if (!event || !state) return;
    writeRequestLine({ requestId: state.requestId, server: event.pathParameters?.server_id, kind: kindOf(event, undefined), status, outcome, ms: Date.now() - state.startedAt }, options.logger, metrics);
  };
  const responses: Mw = {
    after: (request) => {
      const result = request.response as unknown as ApiResponse;
      const requestId = request.event.vmconsole.requestId;
      request.response = 'bytes' in result
        ? { statusCode: result.status, headers: { ...result.headers, 'Content-Type': result.contentType, 'x-request-id': requestId }, body: result.bytes.toString('base64'), isBase64Encoded: true }
        : { statusCode: result.status, headers: { ...result.headers, 'Content-Type': 'application/json', 'x-request-id': requestId }, body: JSON.stringify(result.body) };
      accountFor(request.event, result.status, 'OK');
    },
    onError: (request) => {
      const state = request.event?.vmconsole as ApiState | undefined;
      const requestId = state?.requestId ?? newRequestId();
      const { status, body } = apiError(request.error, { requestId, viewer: state?.principal, logger: options.logger });
      request.response = {
        statusCode: status,
        headers: {
          'Content-Type': 'application/json', 'x-request-id': requestId,
          ...(status === 429 && state?.retryAfterSeconds !== undefined && { 'Retry-After': String(state.retryAfterSeconds) }),
        },
        body: JSON.stringify(body),
      };
      accountFor(request.event, status, isVmconsoleError(request.error) ? request.error.code : 'Internal');
      return request.response;
    },
  };
  const lambda = middy(async (event: ApiEvent, ctx: Context) => {
    const remainingMs = ctx?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    const { requestId, principal } = event.vmconsole;
    return (await handler({ event, principal: principal!, requestId, deadline: requestDeadline(Date.now(), remainingMs, options.hostWaitMs) })) as unknown as APIGatewayProxyStructuredResultV2;
  });
  // As the Nova stack: Lambda's context and API Gateway's request id on every line of the request.
  if (options.logger instanceof PowertoolsLogger) lambda.use(injectLambdaContext(options.logger, { correlationIdPath: 'requestContext.requestId', resetKeys: true }) as MiddlewareObj);
  lambda
    .use(httpHeaderNormalizer() as MiddlewareObj)
    .use(responses as MiddlewareObj)
    .use([context, authentication, rateLimit] as MiddlewareObj[]);
  return lambda as unknown as ApiHandler;
}

/** A handler that only answers `err` in this API's format (a function whose configuration is bad). */
export function failingApi(err: unknown, logger: Logger): ApiHandler {
  return async () => {
    const requestId = newRequestId();
    const { status, body } = apiError(err, { requestId, logger });
    return { statusCode: status, headers: { 'Content-Type': 'application/json', 'x-request-id': requestId }, body: JSON.stringify(body) };
  };
}
