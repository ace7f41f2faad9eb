import { listServerDiagnoses } from '../lib/diagnostics-service/server-diagnoses.ts';
import { vmconsoleApi, type ApiHandler } from '../lib/vmconsole-api/middleware.ts';
import { perApiEnvironment, type ApiDependencies } from '../lib/vmconsole-api/wiring.ts';

/** GET /vmconsole/v1/servers/{server_id}/diagnoses[?limit=&marker=] (docs/openapi.yaml) */
export function createHandler(deps: ApiDependencies): ApiHandler {
  return vmconsoleApi(
    async ({ event, principal }) => {
      const query = event.queryStringParameters ?? {};
      const page = await listServerDiagnoses({ principal, serverId: event.pathParameters?.server_id ?? '', limit: query.limit, marker: query.marker }, deps.diagnoses);
      return { status: 200, body: page };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger },
  );
}

export const handler = perApiEnvironment(createHandler);
