import { z } from 'zod';
import { describeValue } from './nova-json.ts';

const LENGTH_PATTERN = '^-?[0-9]+$';
const notOfType = (value: unknown) => `${describeValue(value)} is not of type 'integer', 'string', 'null'`;
const belowMinimum = (value: unknown) => `${describeValue(value)} is less than the minimum of -1`;

/** Python's `$` also matches before a final newline: Nova takes "5\n" as 5 (and nothing else trailing). */
const LENGTH_RE = /^-?[0-9]+\n?$/;

/**
 * Nova's `length`: `{"type": ["integer", "string", "null"], "pattern": "^-?[0-9]+$", "minimum": -1}`
 * where Nova's validator applies `minimum` to numeric strings too ("-2" is refused). Booleans are
 * not integers (JSON Schema draft 4), and neither is a number written with a fraction or an
 * exponent (`2.0`, `1E2`): the JSON reader keeps those as their written text (nova-json.ts),
 * which is none of the three types here. Normalised to a number (null keeps everything). Integers
 * beyond 2^53 are clamped: any count above the number of lines in the 100 KiB window means "all of
 * it", exactly as in Nova. The HTTP API's action body and the automation contract both use it.
 */
export const ConsoleLength = z
  .union(
    [
      z.null(),
      z.number().refine(Number.isInteger, { error: (iss) => notOfType(iss.input), abort: true })
        .refine((n) => n >= -1, { error: (iss) => belowMinimum(iss.input) }),
      z.string()
        .regex(LENGTH_RE, { error: (iss) => `'${describeValue(iss.input)}' does not match '${LENGTH_PATTERN}'` })
        .refine((s) => Number(s) >= -1, { error: (iss) => belowMinimum(Number(iss.input)) }),
    ],
    { error: (iss) => notOfType(iss.input) },
  )
  .transform((value) => (value === null ? null : Math.min(Number(value), Number.MAX_SAFE_INTEGER)));
