import { randomUUID } from 'node:crypto';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { authenticate } from '../auth/authenticate.ts';
import type { AuthConfig } from '../auth/config.ts';
import type { Principal } from '../auth/principal.ts';
import { VmconsoleError } from '../errors.ts';
import type { KeyedRateLimiter } from '../limits/token-bucket.ts';
import { createLogger, type Logger } from '../logger.ts';
import { requestBaseUrl } from './base-url.ts';
import { faultFromError } from './faults.ts';
import { MIN_MICROVERSION, microversionHeaders, parseMicroversion, type Microversion } from './microversion.ts';
import { parseJsonBody } from './request-body.ts';

/** What a handler sees: the raw event plus everything the stack worked out. */
export interface NovaRequest {
  event: APIGatewayProxyEventV2;
  /** Lower-cased names. */
  headers: Readonly<Record<string, string | undefined>>;
  microversion: Microversion;
  /** Nova's format, `req-<uuid>`, returned as x-openstack-request-id and x-compute-request-id. */
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
}
type NovaEvent = APIGatewayProxyEventV2 & { nova: NovaState };
type Mw = MiddlewareObj<NovaEvent, APIGatewayProxyStructuredResultV2>;

const defaultLogger = createLogger('vmconsole-edge');

function requestContext(): Mw {
  return {
    before: ({ event }) => {
      const headers = (event.headers ?? {}) as Record<string, string | undefined>;
      const state: NovaState = { headers, microversion: MIN_MICROVERSION, requestId: `req-${randomUUID()}`, baseUrl: requestBaseUrl(event), body: undefined };
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
  const requestId = state?.requestId ?? `req-${randomUUID()}`;
  return {
    ...microversionHeaders(state?.microversion ?? MIN_MICROVERSION),
    'x-openstack-request-id': requestId,
    'x-compute-request-id': requestId,
  };
}

/** Shapes handler results and, through faults.ts only, every error into API Gateway responses. */
function novaResponses(logger: Logger): MiddlewareObj<NovaEvent, APIGatewayProxyStructuredResultV2, unknown> {
  return {
    after: (request) => {
      const result = request.response as unknown as NovaResponse;
      const hasBody = result.body !== undefined;
      request.response = {
        statusCode: result.status,
        headers: { ...commonHeaders(request.event.nova), ...(hasBody ? { 'Content-Type': 'application/json' } : {}), ...result.headers },
        body: hasBody ? JSON.stringify(result.body) : '',
      };
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
      return request.response;
    },
  };
}

interface NovaApiOptions {
  /** Parse the body as JSON (POST routes). */
  parseBody?: boolean;
  logger?: Logger;
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
  const stack: Mw[] = [requestContext()];
  if (options.auth) stack.push(authentication(options.auth));
  if (options.auth && options.limiter) stack.push(rateLimit(options.limiter));
  stack.push(microversionCheck());
  if (options.parseBody) stack.push(jsonBody());

  const lambda = middy(async (event: NovaEvent, context: Context) => {
    const { principal, versionError: _, retryAfterSeconds: __, ...state } = event.nova;
    const remainingMs = context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    const deadline = requestDeadline(Date.now(), remainingMs, options.hostWaitMs);
    return (await handler({ ...state, principal: principal!, event, deadline })) as unknown as APIGatewayProxyStructuredResultV2;
  })
    .use(httpHeaderNormalizer() as MiddlewareObj)
    .use(novaResponses(logger) as MiddlewareObj)
    .use(stack as MiddlewareObj[]);
  return lambda as unknown as NovaHandler;
}
