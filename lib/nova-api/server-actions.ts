import { getConsoleOutput, type GetConsoleOutputDeps } from '../console-output/get-console-output.ts';
import { VmconsoleError } from '../errors.ts';
import { findVisibleServer } from '../servers/find-visible-server.ts';
import { ConsoleOutputAction, lengthOf } from './console-output-request.ts';
import type { AuthenticatedNovaRequest, NovaResponse } from './middleware.ts';
import { compareMicroversions, type Microversion } from './microversion.ts';
import { isWrittenNumber } from '../contracts/nova-json.ts';
import { validate } from './validation.ts';

export type ServerActionDeps = Omit<GetConsoleOutputDeps, 'now'>;

interface ActionRequest extends AuthenticatedNovaRequest {
  serverId: string;
}
type ActionHandler = (request: ActionRequest, deps: ServerActionDeps) => Promise<NovaResponse>;

/** One action: its handler and, like Nova's versioned methods, the microversions that have it. */
interface ServerAction {
  handle: ActionHandler;
  /** The last microversion with this action (Nova answers 404 above it). */
  until?: Microversion;
}

/** Nova's remote console actions of microversions 2.1-2.5: looked up, as in Nova, then not implemented. */
function legacyConsole(kind: string): ServerAction {
  return {
    handle: async ({ principal, serverId }, deps) => {
      await findVisibleServer(deps.directory, principal, serverId);
      throw new VmconsoleError('NotImplemented', `Unable to get ${kind} console, functionality not implemented`);
    },
    // Replaced by POST /servers/{id}/remote-consoles from 2.6.
    until: { major: 2, minor: 5 },
  };
}

/** `POST /servers/{id}/action` by action name: the Nova API's table of contents for server actions. */
const SERVER_ACTIONS: Readonly<Record<string, ServerAction>> = Object.freeze({
  'os-getConsoleOutput': {
    handle: async ({ principal, serverId, body, deadline, requestId }, deps) => {
      const length = lengthOf(validate(ConsoleOutputAction, body));
      return { status: 200, body: { output: await getConsoleOutput({ principal, serverId, length, requestId, deadline }, deps) } };
    },
  },
  'os-getVNCConsole': legacyConsole('vnc'),
  'os-getSPICEConsole': legacyConsole('spice'),
  'os-getSerialConsole': legacyConsole('serial'),
  'os-getRDPConsole': legacyConsole('rdp'),
});

/** Like Nova's action dispatch: the body is an object with exactly one key, the action name. */
function actionName(body: unknown): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || isWrittenNumber(body) || Object.keys(body).length !== 1) {
    throw new VmconsoleError('BadRequest', 'Malformed request body');
  }
  return Object.keys(body)[0]!;
}

export async function runServerAction(request: AuthenticatedNovaRequest, deps: ServerActionDeps): Promise<NovaResponse> {
  const name = actionName(request.body);
  // Own keys only: `toString`, `constructor` or `__proto__` are no actions, whatever Object.prototype holds.
  const action = Object.hasOwn(SERVER_ACTIONS, name) ? SERVER_ACTIONS[name] : undefined;
  if (!action) throw new VmconsoleError('BadRequest', `There is no such action: ${name.slice(0, 100)}`);
  if (action.until && compareMicroversions(request.microversion, action.until) > 0) {
    throw new VmconsoleError('RouteNotFound', 'The resource could not be found.');
  }
  return action.handle({ ...request, serverId: request.event.pathParameters?.server_id ?? '' }, deps);
}
