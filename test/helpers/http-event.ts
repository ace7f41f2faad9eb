import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

export interface HttpEventOptions {
  method?: string;
  /** The raw path as the client sent it (query string separate). */
  path: string;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  isBase64Encoded?: boolean;
  query?: Record<string, string>;
  /** Defaults to the server_id API Gateway would extract for /v2.1/servers/{server_id}[/action]. */
  pathParameters?: Record<string, string>;
  stage?: string;
  routeKey?: string;
}

function serverIdParameter(path: string): Record<string, string> | undefined {
  const match = /^(?:\/[^/]+)?\/v2\.1\/servers\/([^/]+)(?:\/action)?\/?$/.exec(path);
  if (!match || match[1] === 'detail') return undefined;
  try {
    return { server_id: decodeURIComponent(match[1]!) };
  } catch {
    return { server_id: match[1]! };
  }
}

/** An API Gateway HTTP API (payload 2.0) event, as AWS sends it: lower-case headers, comma-joined. */
export function httpEvent(options: HttpEventOptions): APIGatewayProxyEventV2 {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { host: 'api.example.test', 'x-forwarded-proto': 'https', 'user-agent': 'vitest' };
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v;
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const query = options.query;
  const stage = options.stage ?? '$default';
  return {
    version: '2.0',
    routeKey: options.routeKey ?? '$default',
    rawPath: options.path,
    rawQueryString: query ? new URLSearchParams(query).toString() : '',
    headers,
    ...(query ? { queryStringParameters: query } : {}),
    ...((options.pathParameters ?? serverIdParameter(options.path)) ? { pathParameters: options.pathParameters ?? serverIdParameter(options.path) } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'testapi',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method, path: options.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'test-request',
      routeKey: options.routeKey ?? '$default',
      stage,
      time: '01/Jan/2026:00:00:00 +0000',
      timeEpoch: Date.now(),
    },
    ...(body !== undefined ? { body, isBase64Encoded: options.isBase64Encoded ?? false } : { isBase64Encoded: false }),
  };
}

/** A Lambda context with a generous deadline, like a 15 s function. */
export function lambdaContext(timeoutMs = 15_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'vmconsole-test-fn',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:vmconsole-test-fn',
    memoryLimitInMB: '256',
    awsRequestId: 'test-aws-request',
    logGroupName: '/aws/lambda/vmconsole-test-fn',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number; headers: Record<string, string> };

/** Call a handler like Lambda does and return the response with a parsed JSON body (binary bodies stay in `raw`). */
export async function invoke(
  handler: (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>,
  options: HttpEventOptions,
): Promise<{ status: number; headers: Record<string, string>; json: any; raw: HttpResult }> {
  const raw = (await handler(httpEvent(options), lambdaContext())) as HttpResult;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.headers ?? {})) headers[k.toLowerCase()] = String(v);
  // A binary body (an image) is base64 for API Gateway: read it from `raw`.
  return { status: raw.statusCode, headers, json: raw.body && !raw.isBase64Encoded ? JSON.parse(raw.body) : undefined, raw };
}
