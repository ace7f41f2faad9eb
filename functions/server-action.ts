import { readAuthConfig } from '../lib/auth/config.ts';
import { getConsoleOutput } from '../lib/console-output/get-console-output.ts';
import { ConsoleOutputAction, lengthOf } from '../lib/console-output/request-schema.ts';
import { VmconsoleError } from '../lib/errors.ts';
import { createConsoleDependencies } from '../lib/nova-api/edge-dependencies.ts';
import { novaApi, type AuthenticatedNovaRequest, type NovaResponse } from '../lib/nova-api/middleware.ts';
import { validate } from '../lib/nova-api/validation.ts';
import { findVisibleServer } from '../lib/servers/find-visible-server.ts';

const auth = readAuthConfig();
const deps = createConsoleDependencies();

/** Nova's remote console actions of microversions 2.1-2.5, and the console kind each names. */
const LEGACY_CONSOLE_ACTIONS: Readonly<Record<string, string>> = {
  'os-getVNCConsole': 'vnc',
  'os-getSPICEConsole': 'spice',
  'os-getSerialConsole': 'serial',
  'os-getRDPConsole': 'rdp',
};

/** Like Nova's action dispatch: the body is an object with exactly one key, the action name. */
function actionName(body: unknown): string {
  if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) {
    throw new VmconsoleError('BadRequest', 'Malformed request body');
  }
  return Object.keys(body)[0]!;
}

/** Leave the function this long to turn a silent host into a 504 before Lambda's own timeout. */
const ANSWER_MARGIN_MS = 1_500;

async function serverAction({ event, principal, body, requestId, remainingTimeMs }: AuthenticatedNovaRequest): Promise<NovaResponse> {
  const serverId = event.pathParameters?.server_id ?? '';
  const action = actionName(body);
  if (action === 'os-getConsoleOutput') {
    const length = lengthOf(validate(ConsoleOutputAction, body));
    // A slow cold start eats into the function's time: never wait past what is left of it.
    const deadline = Date.now() + Math.max(0, Math.min(deps.replyTimeoutMs, remainingTimeMs() - ANSWER_MARGIN_MS));
    return { status: 200, body: { output: await getConsoleOutput({ principal, serverId, length, requestId, deadline }, deps) } };
  }
  const consoleKind = LEGACY_CONSOLE_ACTIONS[action];
  if (consoleKind) {
    // As in Nova, the server is looked up first; then the capability is missing.
    await findVisibleServer(deps.directory, principal, serverId);
    throw new VmconsoleError('NotImplemented', `Unable to get ${consoleKind} console, functionality not implemented`);
  }
  throw new VmconsoleError('BadRequest', `There is no such action: ${action.slice(0, 100)}`);
}

/** POST /v2.1/servers/{server_id}/action */
export const handler = novaApi(serverAction, { auth, parseBody: true });
