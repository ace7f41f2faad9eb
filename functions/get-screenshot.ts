import { getScreenshot } from '../lib/console-screenshot/get-screenshot.ts';
import { negotiate } from '../lib/vmconsole-api/content-negotiation.ts';
import { vmconsoleApi, type ApiHandler } from '../lib/vmconsole-api/middleware.ts';
import { perApiEnvironment, type ApiDependencies } from '../lib/vmconsole-api/wiring.ts';

/** GET /vmconsole/v1/servers/{server_id}/screenshot (docs/openapi.yaml): the PNG itself for `Accept: image/png`, else JSON with it in base64. */
export function createHandler(deps: ApiDependencies): ApiHandler {
  return vmconsoleApi(
    async ({ event, principal, requestId, deadline }) => {
      const type = negotiate(event.headers?.accept, ['application/json', 'image/png']);
      const shot = await getScreenshot({ principal, serverId: event.pathParameters?.server_id ?? '', requestId, deadline }, deps.hosts);
      const headers = { Vary: 'Accept', 'Cache-Control': 'no-store' };
      if (type === 'image/png') return { status: 200, bytes: shot.png, contentType: 'image/png', headers };
      const { png, takenAt, ...rest } = shot;
      return { status: 200, headers, body: { screenshot: { ...rest, takenAt: new Date(takenAt).toISOString(), bytes: png.length, data: png.toString('base64') } } };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger, hostWaitMs: deps.replyTimeoutMs },
  );
}

export const handler = perApiEnvironment(createHandler);
