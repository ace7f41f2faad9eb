import type { z } from 'zod';
import { VmconsoleError } from '../errors.ts';
import { describeValue, isWrittenNumber } from '../contracts/nova-json.ts';

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const TYPE_NAMES: Record<string, string> = { int: 'integer', number: 'number', object: 'object', string: 'string', null: 'null', array: 'array', boolean: 'boolean' };

/** jsonschema's wording, which Nova passes through, so scripts grepping Nova's messages keep working. */
function issueText(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      // A number written as `2.0` is kept as raw JSON, an object to zod: it is a number to the client.
      if (isWrittenNumber(value)) return `${describeValue(value)} is not of type 'object'`;
      return `Additional properties are not allowed (${issue.keys.map((k) => `'${k}'`).join(', ')} ${issue.keys.length === 1 ? 'was' : 'were'} unexpected)`;
    case 'invalid_type':
      return `${describeValue(value)} is not of type '${TYPE_NAMES[issue.expected] ?? issue.expected}'`;
    default:
      return issue.message;
  }
}

/**
 * Parse with a zod schema; on failure throw one 400 in Nova's style:
 * "Invalid input for field/attribute length. Value: 2.5. 2.5 is not of type 'integer', ...".
 * Only the first issue is reported, as Nova does. Schemas give their own wording through
 * custom `error` messages; a missing required key is reported on its parent, like jsonschema.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const value = valueAt(input, issue.path);
  if (issue.code === 'invalid_type' && value === undefined && issue.path.length > 0) {
    const parent = issue.path.slice(0, -1);
    const missing = `'${String(issue.path.at(-1))}' is a required property`;
    throw new VmconsoleError('BadRequest', parent.length === 0 ? missing : `Invalid input for field/attribute ${String(parent.at(-1))}. Value: ${describeValue(valueAt(input, parent))}. ${missing}`);
  }
  const text = issueText(issue, value);
  const field = issue.path.at(-1);
  throw new VmconsoleError(
    'BadRequest',
    field === undefined ? text : `Invalid input for field/attribute ${String(field)}. Value: ${describeValue(value)}. ${text}`,
  );
}
