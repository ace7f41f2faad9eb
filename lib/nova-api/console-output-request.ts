import { z } from 'zod';
import { ConsoleLength } from '../contracts/console-length.ts';

/** `{"os-getConsoleOutput": {"length": L}}`, no other keys at either level. */
export const ConsoleOutputAction = z.strictObject({
  'os-getConsoleOutput': z.strictObject({ length: ConsoleLength.optional() }),
});

export function lengthOf(action: z.output<typeof ConsoleOutputAction>): number | null {
  return action['os-getConsoleOutput'].length ?? null;
}
