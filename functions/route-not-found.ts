import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { fault } from '../lib/nova-api/faults.ts';
import { novaApi } from '../lib/nova-api/middleware.ts';
import { allowedMethods, routePath } from '../lib/nova-api/routes.ts';
import { versionDocument } from '../lib/nova-api/versions.ts';
import { createLogger, EDGE_SERVICE, type Logger } from '../lib/logger.ts';
import { isApiPath, routeNotFound } from '../lib/vmconsole-api/routes.ts';

export interface RouteNotFoundDependencies {
  logger: Logger;
}

/**
 * Catch-all for every path no route matched. Under `/vmconsole/v1` it answers in that API's error
 * format (lib/vmconsole-api/routes.ts); everything else is the Nova API's: 405 with Allow for a
 * served path and the wrong method, else Nova's 404.
 * `GET /v2.1/` also lands here in AWS: serverless-offline cannot declare both `/v2.1` and
 * `/v2.1/` (it strips trailing slashes), so discovery's trailing-slash form is answered here.
 */
export function createHandler(deps: RouteNotFoundDependencies) {
  const nova = novaApi(
    async ({ event, baseUrl }) => {
      const path = routePath(event);
      const method = event.requestContext?.http?.method ?? 'this method';
      if (path === '/v2.1/' && method === 'GET') return { status: 200, body: versionDocument(baseUrl) };
      const allowed = allowedMethods(path);
      if (allowed) {
        return { status: 405, body: fault(405, `The method ${method} is not allowed for this resource.`).body, headers: { Allow: allowed.join(', ') } };
      }
      return { status: 404, body: fault(404, 'The resource could not be found.').body };
    },
    { auth: false, logger: deps.logger },
  );
  return async (event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const path = routePath(event);
    if (isApiPath(path)) return routeNotFound(path, event.requestContext?.http?.method ?? 'this method', deps.logger);
    return nova(event, context);
  };
}

export const handler = createHandler({ logger: createLogger(EDGE_SERVICE) });
