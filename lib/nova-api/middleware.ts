import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { authenticate } from '../auth/authenticate.ts';
import type { AuthConfig } from '../auth/config.ts';
import type { Principal } from '../auth/principal.ts';
import { isVmconsoleError, VmconsoleError } from '../errors.ts';
import type { KeyedRateLimiter } from '../limits/token-bucket.ts';
import { createLogger, EDGE_SERVICE, type Logger } from '../logger.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import { writeRequestLine } from '../request-line.ts';
import { requestBaseUrl } from './base-url.ts';
import { faultFromError } from './faults.ts';
import { MIN_MICROVERSION, microversionHeaders, parseMicroversion, type Microversion } from './microversion.ts';
import { parseJsonBody } from './request-body.ts';
import { newRequestId, requestIdFrom } from './request-id.ts';

/** What a handler sees: the raw event plus everything the stack worked out. */
export interface NovaRequest {
  event: APIGatewayProxyEventV2;
  /** Lower-cased names. */
  headers: Readonly<Record<string, string | undefined>>;
  microversion: Microversion;
  /**
   * Nova's format, `req-<uuid>`: the caller's x-openstack-request-id when it has that shape, else a
   * new one; returned as x-openstack-request-id and x-compute-request-id, sent to the agent with
   * the request, and in every log line about it.
   */
  requestId: string;
  /** The API root as the client reached it, for links (no trailing slash). */
  baseUrl: string;
  /** Parsed JSON when the route parses bodies and one was sent, else undefined. */
  body: unknown;
  /**
   * Epoch milliseconds by which the handler must have its answer: what is left of the invocation
   * minus a margin to turn a silent host into a 504, and no later than the route's host wait.
   */
  deadline: number;
}
export interface AuthenticatedNovaRequest extends NovaRequest {
  principal: Principal;
}

export interface NovaResponse {
  status: number;
  /** Serialised as JSON; omitted for bodiless responses such as redirects. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type NovaHandler = MiddyfiedHandler<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>;

interface NovaState extends Omit<NovaRequest, 'event' | 'deadline'> {
  principal?: Principal;
  /** A bad microversion header, reported only after authentication, as Nova does behind Keystone. */
  versionError?: unknown;
  /** Set with a 429, for the Retry-After header. */
  retryAfterSeconds?: number;
  /** Epoch ms the request reached the stack, for its duration. */
  startedAt: number;
}
type NovaEvent = APIGatewayProxyEventV2 & { nova: NovaState };
type Mw = MiddlewareObj<NovaEvent, APIGatewayProxyStructuredResultV2>;

const defaultLogger = createLogger(EDGE_SERVICE);
/** The edge's metrics (lib/metrics.ts): one instance per execution environment, as the logger. */
export const edgeMetrics: Metrics = createMetrics(EDGE_SERVICE);

function requestContext(): Mw {
  return {
    before: ({ event }) => {
      const headers = (event.headers ?? {}) as Record<string, string | undefined>;
      const requestId = requestIdFrom(headers['x-openstack-request-id']);
      const state: NovaState = { headers, microversion: MIN_MICROVERSION, requestId, baseUrl: requestBaseUrl(event), body: undefined, startedAt: Date.now() };
      event.nova = state;
      try {
        state.microversion = parseMicroversion(headers);
      } catch (err) {
        state.versionError = err;
      }
    },
  };
}

function authentication(config: AuthConfig): Mw {
  return {
    before: async ({ event }) => {
      event.nova.principal = await authenticate(event.nova.headers, config);
    },
  };
}

/**
 * After authentication, so the bucket is the caller's project; before the body is parsed or
 * anything is looked up, so a flood costs as little as possible.
 */
function rateLimit(limiter: KeyedRateLimiter): Mw {
  return {
    before: ({ event }) => {
      const verdict = limiter.take(event.nova.principal!.projectId);
      if (verdict.allowed) return;
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      event.nova.retryAfterSeconds = seconds;
      throw new VmconsoleError('RateLimited', `This request was rate-limited. Retry after ${seconds} s.`, {
        detail: verdict.scope === 'key' ? `project ${event.nova.principal!.projectId} is over its limit` : 'the API as a whole is over its limit',
      });
    },
  };
}

function microversionCheck(): Mw {
  return {
    before: ({ event }) => {
      if (event.nova.versionError !== undefined) throw event.nova.versionError;
    },
  };
}

function jsonBody(): Mw {
  return {
    before: ({ event }) => {
      event.nova.body = parseJsonBody(event, event.nova.headers);
    },
  };
}

function commonHeaders(state: NovaState | undefined): Record<string, string> {
  const requestId = state?.requestId ?? newRequestId();
  return {
    ...microversionHeaders(state?.microversion ?? MIN_MICROVERSION),
    'x-openstack-request-id': requestId,
    'x-compute-request-id': requestId,
  };
}

/** What a request asked for, for its log line: the route, and the server action's name. */
export function kindOf(event: APIGatewayProxyEventV2, body: unknown): string {
  const route = event.routeKey && event.routeKey !== '$default' ? event.routeKey : `${event.requestContext?.http?.method ?? ''} ${event.rawPath ?? ''}`;
  const action = body !== null && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 1 ? Object.keys(body)[0]! : undefined;
  return action === undefined ? route : `${route} ${action.slice(0, 64)}`;
}

/** The request's log and EMF line (lib/request-line.ts): its id, server, kind, duration and outcome. */
function accountFor(event: NovaEvent | undefined, status: number, outcome: string, logger: Logger, metrics: Metrics): void {
  const state = event?.nova as NovaState | undefined;
  if (!state || !event) return;
  writeRequestLine({ requestId: state.requestId, server: event.pathParameters?.server_id, kind: kindOf(event, state.body), status, outcome, ms: Date.now() - state.startedAt }, logger, metrics);
}

/** Shapes handler results and, through faults.ts only, every error into API Gateway responses. */
function novaResponses(logger: Logger, metrics: Metrics): MiddlewareObj<NovaEvent, APIGatewayProxyStructuredResultV2, unknown> {
  return {
    after: (request) => {
      const result = request.response as unknown as NovaResponse;
      const hasBody = result.body !== undefined;
      request.response = {
        statusCode: result.status,
        headers: { ...commonHeaders(request.event.nova), ...(hasBody ? { 'Content-Type': 'application/json' } : {}), ...result.headers },
        body: hasBody ? JSON.stringify(result.body) : '',
      };
      // A 4xx the handler answered itself (405, 404 of the catch-all) is still an outcome of its own.
      accountFor(request.event, result.status, result.status < 400 ? 'OK' : `HTTP${result.status}`, logger, metrics);
    },
    onError: (request) => {
      const state = request.event?.nova as NovaState | undefined;
      const headers = commonHeaders(state);
      const fault = faultFromError(request.error, { requestId: headers['x-openstack-request-id']!, viewer: state?.principal, logger, retryAfterSeconds: state?.retryAfterSeconds });
      request.response = {
        statusCode: fault.status,
        headers: { ...headers, 'Content-Type': 'application/json', ...fault.headers },
        body: JSON.stringify(fault.body),
      };
      accountFor(request.event, fault.status, isVmconsoleError(request.error) ? request.error.code : 'Internal', logger, metrics);
      return request.response;
    },
  };
}

interface NovaApiOptions {
  /** Parse the body as JSON (POST routes). */
  parseBody?: boolean;
  logger?: Logger;
  /** Where each request's EMF line goes (default: the edge's, service vmconsole-edge). */
  metrics?: Metrics;
  /** Per-project and API-wide request budget (authenticated routes only). */
  limiter?: KeyedRateLimiter;
  /** Routes that ask a host: the longest wait for its reply, which bounds `deadline`. */
  hostWaitMs?: number;
}

/** Left to the function after the deadline to send the 504 before Lambda's own timeout. */
export const ANSWER_MARGIN_MS = 1_500;

/** `deadline` as NovaRequest defines it; a slow cold start eats into the wait, never past the invocation. */
export function requestDeadline(now: number, remainingMs: number, hostWaitMs = Number.POSITIVE_INFINITY): number {
  return now + Math.max(0, Math.min(hostWaitMs, remainingMs - ANSWER_MARGIN_MS));
}

/**
 * Wrap a handler in the Nova edge stack: header normalisation, request id, microversion parse and
 * echo, authentication, rate limit, JSON body, the deadline, and the mapping of results and errors
 * to responses.
 */
export function novaApi(
  handler: (req: AuthenticatedNovaRequest) => Promise<NovaResponse>,
  options: NovaApiOptions & { auth: AuthConfig },
): NovaHandler;
export function novaApi(handler: (req: NovaRequest) => Promise<NovaResponse>, options: NovaApiOptions & { auth: false }): NovaHandler;
export function novaApi(
  handler: (req: AuthenticatedNovaRequest) => Promise<NovaResponse>,
  options: NovaApiOptions & { auth: AuthConfig | false },
): NovaHandler {
  const logger = options.logger ?? defaultLogger;
  const metrics = options.metrics ?? edgeMetrics;
  const stack: Mw[] = [requestContext()];
  if (options.auth) stack.push(authentication(options.auth));
  if (options.auth && options.limiter) stack.push(rateLimit(options.limiter));
  stack.push(microversionCheck());
  if (options.parseBody) stack.push(jsonBody());

  const lambda = middy(async (event: NovaEvent, context: Context) => {
    const { principal, versionError: _, retryAfterSeconds: __, startedAt: ___, ...state } = event.nova;
    const remainingMs = context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    const deadline = requestDeadline(Date.now(), remainingMs, options.hostWaitMs);
    return (await handler({ ...state, principal: principal!, event, deadline })) as unknown as APIGatewayProxyStructuredResultV2;
  });
  // First: Lambda's context (function_request_id, cold_start) and API Gateway's request id (the
  // access log's) as correlation_id on every line of the request; a test's recording logger has neither.
  if (logger instanceof PowertoolsLogger) lambda.use(injectLambdaContext(logger, { correlationIdPath: 'requestContext.requestId', resetKeys: true }) as MiddlewareObj);
  lambda
    .use(httpHeaderNormalizer() as MiddlewareObj)
    .use(novaResponses(logger, metrics) as MiddlewareObj)
    .use(stack as MiddlewareObj[]);
  return lambda as unknown as NovaHandler;
}
