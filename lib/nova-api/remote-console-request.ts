import { z } from 'zod';
import { compareMicroversions, type Microversion } from './microversion.ts';

/** jsonschema's enum check as Nova reports it: "'x' is not one of ['a', 'b']"; a non-string is a type error first. */
function novaEnum(values: readonly string[]) {
  return z.string().refine((v) => values.includes(v), { error: (issue) => `'${String(issue.input)}' is not one of [${values.map((v) => `'${v}'`).join(', ')}]` });
}

/** Nova's legacy console actions (2.1-2.5): `{"os-getXConsole": {"type": T}}`, one enum each. */
export const LEGACY_CONSOLE_ACTIONS = {
  'os-getVNCConsole': { protocol: 'vnc', types: ['novnc', 'xvpvnc'] },
  'os-getSPICEConsole': { protocol: 'spice', types: ['spice-html5'] },
  'os-getSerialConsole': { protocol: 'serial', types: ['serial'] },
} as const;
export type LegacyConsoleAction = keyof typeof LEGACY_CONSOLE_ACTIONS;

export function legacyConsoleBody(action: LegacyConsoleAction) {
  return z.strictObject({ [action]: z.strictObject({ type: novaEnum(LEGACY_CONSOLE_ACTIONS[action].types) }) });
}

/**
 * `POST /servers/{id}/remote-consoles` bodies per microversion (Nova's create_v26, create_v28;
 * create_v299's spice-direct is beyond what this API advertises). rdp and xvpvnc are still in the
 * schemas, as in Nova, and refused further down.
 */
const PROTOCOLS_V26 = ['vnc', 'spice', 'serial', 'rdp'];
const TYPES_V26 = ['novnc', 'xvpvnc', 'spice-html5', 'serial', 'rdp-html5'];

export function remoteConsoleBody(version: Microversion) {
  const v28 = compareMicroversions(version, { major: 2, minor: 8 }) >= 0;
  return z.strictObject({
    remote_console: z.strictObject({
      protocol: novaEnum(v28 ? [...PROTOCOLS_V26, 'mks'] : PROTOCOLS_V26),
      type: novaEnum(v28 ? [...TYPES_V26, 'webmks'] : TYPES_V26),
    }),
  });
}
