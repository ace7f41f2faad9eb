import { VmconsoleError } from '../errors.ts';
import { getRemoteConsole, type GetRemoteConsoleDeps } from '../remote-consoles/get-remote-console.ts';
import type { AuthenticatedNovaRequest, NovaResponse } from './middleware.ts';
import { compareMicroversions } from './microversion.ts';
import { remoteConsoleBody } from './remote-console-request.ts';
import { validate } from './validation.ts';

/**
 * Nova's RemoteConsolesController.create: 404 below 2.6 (the route is versioned), the body checked
 * against that microversion's schema, then the use case; `{"remote_console": {protocol, type, url}}`.
 */
export async function createRemoteConsole(request: AuthenticatedNovaRequest, deps: Omit<GetRemoteConsoleDeps, 'now'>): Promise<NovaResponse> {
  if (compareMicroversions(request.microversion, { major: 2, minor: 6 }) < 0) {
    throw new VmconsoleError('RouteNotFound', 'The resource could not be found.');
  }
  const { remote_console: { protocol, type } } = validate(remoteConsoleBody(request.microversion), request.body);
  const { url } = await getRemoteConsole({
    principal: request.principal,
    serverId: request.event.pathParameters?.server_id ?? '',
    protocol,
    type,
    requestId: request.requestId,
    deadline: request.deadline,
  }, deps);
  return { status: 200, body: { remote_console: { protocol, type, url } } };
}
