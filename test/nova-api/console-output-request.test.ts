import { describe, expect, it } from 'vitest';
import { ConsoleOutputAction, lengthOf } from '../../lib/nova-api/console-output-request.ts';
import { isVmconsoleError } from '../../lib/errors.ts';
import { validate } from '../../lib/nova-api/validation.ts';

function parse(body: unknown): number | null {
  return lengthOf(validate(ConsoleOutputAction, body));
}

function rejection(body: unknown): string {
  try {
    parse(body);
  } catch (err) {
    if (isVmconsoleError(err) && err.code === 'BadRequest') return err.message;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

const withLength = (length: unknown) => ({ 'os-getConsoleOutput': { length } });

describe('os-getConsoleOutput request schema (Nova console_output.py)', () => {
  it.each([
    [3, 3],
    ['3', 3],
    ['007', 7],
    [-1, -1],
    ['-1', -1],
    [0, 0],
    ['0', 0],
    [null, null],
    [JSON.parse('2.0'), 2],
  ])('accepts length %j as %j', (length, expected) => {
    expect(parse(withLength(length))).toBe(expected);
  });

  it('accepts an absent length as null (everything)', () => {
    expect(parse({ 'os-getConsoleOutput': {} })).toBeNull();
  });

  it('clamps integers beyond 2^53 (still "all lines", as in Nova)', () => {
    expect(parse(withLength('123456789012345678901234567890'))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([
    [2.5, "2.5 is not of type 'integer', 'string', 'null'"],
    [true, "true is not of type 'integer', 'string', 'null'"],
    [false, "false is not of type 'integer', 'string', 'null'"],
    [{}, "{} is not of type 'integer', 'string', 'null'"],
    [[3], "[3] is not of type 'integer', 'string', 'null'"],
    ['NaN', "'NaN' does not match '^-?[0-9]+$'"],
    ['', "'' does not match '^-?[0-9]+$'"],
    [' 5', "' 5' does not match '^-?[0-9]+$'"],
    ['+5', "'+5' does not match '^-?[0-9]+$'"],
    ['5 ', "'5 ' does not match '^-?[0-9]+$'"],
    ['1e3', "'1e3' does not match '^-?[0-9]+$'"],
    ['-2', '-2 is less than the minimum of -1'],
    [-2, '-2 is less than the minimum of -1'],
  ])('rejects length %j with a Nova-style message', (length, detail) => {
    const message = rejection(withLength(length));
    expect(message).toMatch(/^Invalid input for field\/attribute length\. Value: /);
    expect(message).toContain(detail);
  });

  it('rejects unknown keys inside the action', () => {
    expect(rejection({ 'os-getConsoleOutput': { length: 1, lines: 2 } })).toBe(
      'Invalid input for field/attribute os-getConsoleOutput. Value: {"length":1,"lines":2}. Additional properties are not allowed (\'lines\' was unexpected)',
    );
  });

  it('rejects unknown keys next to the action', () => {
    expect(rejection({ 'os-getConsoleOutput': {}, extra: 1 })).toBe("Additional properties are not allowed ('extra' was unexpected)");
  });

  it.each([[null], [1], ['x'], [[]]])('rejects a non-object action value %j', (value) => {
    expect(rejection({ 'os-getConsoleOutput': value })).toMatch(/^Invalid input for field\/attribute os-getConsoleOutput\. Value: .* is not of type 'object'$/);
  });

  it('reports a missing action key like jsonschema', () => {
    expect(rejection({})).toBe("'os-getConsoleOutput' is a required property");
  });

  it('never crashes on deeply nested values', () => {
    const deep = JSON.parse(`${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    expect(rejection(withLength(deep))).toMatch(/is not of type/);
  });
});
