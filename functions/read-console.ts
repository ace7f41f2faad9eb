import { parseConsoleQuery, readConsole, type ConsoleRead } from '../lib/history/read-console.ts';
import { vmconsoleApi, type ApiHandler, type ApiResponse } from '../lib/vmconsole-api/middleware.ts';
import { perApiEnvironment, type ApiDependencies } from '../lib/vmconsole-api/wiring.ts';

/** The longest a read may take: `wait` (20 s at most) plus the host's reply time, within the function's timeout. */
const MAX_WAIT_MS = 20_000;

/**
 * GET /vmconsole/v1/servers/{server_id}/console?port=&since=&limit=&format=&wait= (docs/openapi.yaml):
 * JSON with the bytes as base64 (format=raw) or UTF-8 text (format=text), or the bytes themselves
 * with the offsets in headers when the client accepts application/octet-stream.
 */
export function createHandler(deps: ApiDependencies): ApiHandler {
  return vmconsoleApi(
    async ({ event, principal, requestId, deadline }) => {
      const query = parseConsoleQuery(event.queryStringParameters ?? {});
      const wantsBytes = /application\/octet-stream/i.test(event.headers?.accept ?? '');
      const read = await readConsole({ principal, serverId: event.pathParameters?.server_id ?? '', query: wantsBytes ? { ...query, format: 'raw' } : query, requestId, deadline }, deps.history);
      return wantsBytes ? bytesResponse(read) : { status: 200, body: jsonBody(read, query.format) };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger, hostWaitMs: MAX_WAIT_MS + deps.replyTimeoutMs },
  );
}

function jsonBody(read: ConsoleRead, format: 'raw' | 'text') {
  const { data, incomplete, gap, ...offsets } = read;
  return {
    ...offsets,
    format,
    data: format === 'raw' ? data.toString('base64') : data.toString('utf8'),
    bytes: data.length,
    ...(incomplete && { incomplete }),
    ...(gap && { gap }),
  };
}

function bytesResponse(read: ConsoleRead): ApiResponse {
  return {
    status: 200,
    bytes: read.data,
    contentType: 'application/octet-stream',
    headers: {
      'X-Console-Port': String(read.port),
      'X-Console-Offset': String(read.offset),
      'X-Console-Next': String(read.next),
      'X-Console-Start': String(read.start),
      'X-Console-End': String(read.end),
      ...(read.incomplete && { 'X-Console-Incomplete': 'true' }),
      ...(read.gap && { 'X-Console-Gap': `${read.gap.from}-${read.gap.to}; reason=${read.gap.reason}` }),
    },
  };
}

export const handler = perApiEnvironment(createHandler);
