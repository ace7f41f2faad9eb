import { listConsoles } from '../lib/history/list-consoles.ts';
import { vmconsoleApi, type ApiHandler } from '../lib/vmconsole-api/middleware.ts';
import { perApiEnvironment, type ApiDependencies } from '../lib/vmconsole-api/wiring.ts';

/** GET /vmconsole/v1/servers/{server_id}/consoles (docs/openapi.yaml): the server's consoles that have a log. */
export function createHandler(deps: ApiDependencies): ApiHandler {
  return vmconsoleApi(
    async ({ event, principal, requestId, deadline }) => ({
      status: 200,
      body: await listConsoles({ principal, serverId: event.pathParameters?.server_id ?? '', requestId, deadline }, deps.history),
    }),
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger, hostWaitMs: deps.replyTimeoutMs },
  );
}

export const handler = perApiEnvironment(createHandler);
