import { diagnoseVisibleServer } from '../lib/diagnostics-service/server-diagnoses.ts';
import { vmconsoleApi, type ApiHandler } from '../lib/vmconsole-api/middleware.ts';
import { perApiEnvironment, type ApiDependencies } from '../lib/vmconsole-api/wiring.ts';

/** POST /vmconsole/v1/servers/{server_id}/diagnose (docs/openapi.yaml): 201 a new diagnosis, 200 this crash's earlier one. */
export function createHandler(deps: ApiDependencies): ApiHandler {
  return vmconsoleApi(
    async ({ event, principal, requestId, deadline }) => {
      const { record, created } = await diagnoseVisibleServer({ principal, serverId: event.pathParameters?.server_id ?? '', requestId, deadline }, deps.diagnoses);
      return { status: created ? 201 : 200, body: { diagnosis: record, created } };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger, hostWaitMs: deps.replyTimeoutMs },
  );
}

export const handler = perApiEnvironment(createHandler);
