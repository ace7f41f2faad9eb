import { novaApi } from '../lib/nova-api/middleware.ts';
import { serviceView } from '../lib/nova-api/service-view.ts';
import { perEnvironment, type EdgeDependencies, type HttpHandler } from '../lib/nova-api/wiring.ts';
import { listServices } from '../lib/services/list-services.ts';

/** GET /v2.1/os-services: the compute hosts' agents as Nova's nova-compute services (admins only). */
export function createHandler(deps: EdgeDependencies): HttpHandler {
  return novaApi(
    async ({ event, principal, microversion }) => {
      const params = new URLSearchParams(event.rawQueryString ?? '');
      const filter = { host: params.get('host') ?? undefined, binary: params.get('binary') ?? undefined };
      const services = await listServices({ principal, filter }, deps);
      return { status: 200, body: { services: services.map((s) => serviceView(s, microversion)) } };
    },
    { auth: deps.auth, limiter: deps.limiter, logger: deps.logger },
  );
}

export const handler = perEnvironment(createHandler);
