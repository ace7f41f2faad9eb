/**
 * Client JSON as Nova reads it, for every way a request reaches vmconsole (the HTTP API's bodies,
 * the automation request queue's messages), so a `length` means the same on both: numbers written
 * with a fraction or an exponent are kept as written, and client values are quoted in messages the
 * same way.
 */

const MAX_VALUE_TEXT = 120;

/** A short, never-throwing rendering of a client value for an error message (deep or huge input). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value.length > MAX_VALUE_TEXT ? `${value.slice(0, MAX_VALUE_TEXT)}...` : value;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[...]' : typeof value === 'object' ? '{...}' : String(value);
  }
  return text.length > MAX_VALUE_TEXT ? `${text.slice(0, MAX_VALUE_TEXT)}...` : text;
}

/**
 * JSON as Nova reads it: numbers written with a fraction or an exponent kept as written (below).
 * Throws SyntaxError on bad JSON and RangeError on absurd nesting: both are the client's fault.
 */
export function parseJsonText(text: string): unknown {
  return hasWrittenFraction(text) ? JSON.parse(text, keepWrittenFractions) : (JSON.parse(text) as unknown);
}

const { rawJSON: rawJson, isRawJSON } = JSON as unknown as { rawJSON(text: string): object; isRawJSON(value: unknown): boolean };

/** A number the client wrote with a fraction or an exponent, kept as written (see below). */
export function isWrittenNumber(value: unknown): boolean {
  return isRawJSON(value);
}

/**
 * Nova validates with jsonschema's Draft 4, where a number written with a fraction or an exponent
 * (`2.0`, `1E2`) is not an integer, while JSON.parse turns `2.0` into the integer 2. Such numbers
 * are kept as their written text (a raw JSON value: not a number, serialises as written), so
 * schemas see them as "not an integer" and messages quote them as the client wrote them.
 */
function keepWrittenFractions(_key: string, value: unknown, context?: { source?: string }): unknown {
  return typeof value === 'number' && context?.source !== undefined && /[.eE]/.test(context.source) ? rawJson(context.source) : value;
}

/**
 * Whether a number outside strings has a fraction or an exponent. A reviver only runs when one
 * does: V8 revives recursively, so deeply nested bodies without such numbers keep parsing.
 */
export function hasWrittenFraction(text: string): boolean {
  let inString = false;
  let inNumber = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
      inNumber = false;
    } else if ((c >= 0x30 && c <= 0x39) || c === 0x2d) {
      inNumber = true;
    } else if (inNumber && (c === 0x2e || c === 0x65 || c === 0x45)) {
      return true;
    } else if (!(inNumber && c === 0x2b)) {
      inNumber = false;
    }
  }
  return false;
}
