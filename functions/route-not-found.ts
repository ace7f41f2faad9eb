import { fault } from '../lib/nova-api/faults.ts';
import { novaApi } from '../lib/nova-api/middleware.ts';
import { allowedMethods, routePath } from '../lib/nova-api/routes.ts';

/** Catch-all: 405 with Allow for a served path and the wrong method, else Nova's 404. */
export const handler = novaApi(
  async ({ event }) => {
    const allowed = allowedMethods(routePath(event));
    if (allowed) {
      const method = event.requestContext?.http?.method ?? 'this method';
      return { status: 405, body: fault(405, `The method ${method} is not allowed for this resource.`).body, headers: { Allow: allowed.join(', ') } };
    }
    return { status: 404, body: fault(404, 'The resource could not be found.').body };
  },
  { auth: false },
);
