import { randomUUID } from 'node:crypto';
import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { authenticate } from '../auth/authenticate.ts';
import type { AuthConfig } from '../auth/config.ts';
import type { Principal } from '../auth/principal.ts';
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
  /** Milliseconds before Lambda (or serverless-offline) cuts this invocation off. */
  remainingTimeMs(): number;
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

interface NovaState extends Omit<NovaRequest, 'event' | 'remainingTimeMs'> {
  principal?: Principal;
  /** A bad microversion header, reported only after authentication, as Nova does behind Keystone. */
  versionError?: unknown;
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
      const fault = faultFromError(request.error, headers['x-openstack-request-id']!, logger);
      request.response = {
        statusCode: fault.status,
        headers: { ...headers, 'Content-Type': 'application/json' },
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
}

/**
 * Wrap a handler in the Nova edge stack: header normalisation, request id, microversion parse and
 * echo, authentication, JSON body, and the mapping of results and errors to responses.
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
  stack.push(microversionCheck());
  if (options.parseBody) stack.push(jsonBody());

  const lambda = middy(async (event: NovaEvent, context: Context) => {
    const { principal, versionError: _, ...state } = event.nova;
    const remainingTimeMs = () => context?.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY;
    return (await handler({ ...state, principal: principal!, event, remainingTimeMs })) as unknown as APIGatewayProxyStructuredResultV2;
  })
    .use(httpHeaderNormalizer() as MiddlewareObj)
    .use(novaResponses(logger) as MiddlewareObj)
    .use(stack as MiddlewareObj[]);
  return lambda as unknown as NovaHandler;
}
