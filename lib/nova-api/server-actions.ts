import { getConsoleOutput, type GetConsoleOutputDeps } from '../console-output/get-console-output.ts';
import { VmconsoleError } from '../errors.ts';
import { getRemoteConsole, type GetRemoteConsoleDeps } from '../remote-consoles/get-remote-console.ts';
import { ConsoleOutputAction, lengthOf } from './console-output-request.ts';
import type { AuthenticatedNovaRequest, NovaResponse } from './middleware.ts';
import { compareMicroversions, type Microversion } from './microversion.ts';
import { isWrittenNumber } from '../contracts/nova-json.ts';
import { legacyConsoleBody, LEGACY_CONSOLE_ACTIONS, type LegacyConsoleAction } from './remote-console-request.ts';
import { validate } from './validation.ts';

export type ServerActionDeps = Omit<GetConsoleOutputDeps, 'now'> & Omit<GetRemoteConsoleDeps, 'now'>;

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

// Replaced by POST /servers/{id}/remote-consoles from 2.6 (Nova answers 404 above 2.5).
const LEGACY_UNTIL: Microversion = { major: 2, minor: 5 };

/** Nova's remote console actions of microversions 2.1-2.5: `{"console": {"type", "url"}}`. */
function legacyConsole(action: LegacyConsoleAction): ServerAction {
  const schema = legacyConsoleBody(action);
  return {
    handle: async ({ principal, serverId, body, deadline, requestId }, deps) => {
      const { type } = (validate(schema, body) as Record<string, { type: string }>)[action]!;
      const { url } = await getRemoteConsole({ principal, serverId, protocol: LEGACY_CONSOLE_ACTIONS[action].protocol, type, requestId, deadline }, deps);
      return { status: 200, body: { console: { type, url } } };
    },
    until: LEGACY_UNTIL,
  };
}

/** Removed with Nova's Hyper-V driver (29.0.0): its schema is empty and it answers webob's bare 400. */
const RDP_CONSOLE: ServerAction = {
  handle: () => Promise.reject(new VmconsoleError('BadRequest', 'The server could not comply with the request since it is either malformed or otherwise incorrect.')),
  until: LEGACY_UNTIL,
};

/** `POST /servers/{id}/action` by action name: the Nova API's table of contents for server actions. */
const SERVER_ACTIONS: Readonly<Record<string, ServerAction>> = Object.freeze({
  'os-getConsoleOutput': {
    handle: async ({ principal, serverId, body, deadline, requestId }, deps) => {
      const length = lengthOf(validate(ConsoleOutputAction, body));
      return { status: 200, body: { output: await getConsoleOutput({ principal, serverId, length, requestId, deadline }, deps) } };
    },
  },
  'os-getVNCConsole': legacyConsole('os-getVNCConsole'),
  'os-getSPICEConsole': legacyConsole('os-getSPICEConsole'),
  'os-getSerialConsole': legacyConsole('os-getSerialConsole'),
  'os-getRDPConsole': RDP_CONSOLE,
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
