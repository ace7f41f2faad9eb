import { describe, expect, it } from 'vitest';
import { ERRORS, VmconsoleError, type ErrorCode } from '../../lib/errors.ts';
import { fault, faultFromError, faultName } from '../../lib/nova-api/faults.ts';

const logged: unknown[][] = [];
const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (...args: unknown[]) => void logged.push(args),
  error: (...args: unknown[]) => void logged.push(args),
};

describe('Nova fault mapping', () => {
  it.each([
    [400, 'badRequest'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'itemNotFound'],
    [405, 'badMethod'],
    [409, 'conflictingRequest'],
    [413, 'overLimit'],
    [415, 'badMediaType'],
    [429, 'overLimit'],
    [501, 'notImplemented'],
    [503, 'serviceUnavailable'],
    [500, 'computeFault'],
    [504, 'computeFault'],
    [406, 'computeFault'],
  ])('status %i is %s', (status, name) => {
    expect(faultName(status)).toBe(name);
  });

  it('builds the Nova body', () => {
    expect(fault(404, 'Instance x could not be found.').body).toEqual({ itemNotFound: { code: 404, message: 'Instance x could not be found.' } });
  });

  it.each(Object.keys(ERRORS) as ErrorCode[])('maps VmconsoleError %s with its status, and its message when exposed', (code) => {
    const f = faultFromError(new VmconsoleError(code, `message for ${code}`), { requestId: 'req-1', logger });
    expect(f.status).toBe(ERRORS[code].status);
    expect(f.body[faultName(f.status)]).toEqual({
      code: ERRORS[code].status,
      message: ERRORS[code].expose ? `message for ${code}` : expect.stringMatching(/^[^]*The request req-1 failed; the operator log has the details\.$/),
    });
    if (!ERRORS[code].expose) expect(f.message).not.toContain(`message for ${code}`);
  });

  it('hides unknown errors behind a generic 500 and logs the real one', () => {
    logged.length = 0;
    const secret = new TypeError("Cannot read properties of undefined (reading 'secretTableName')");
    const f = faultFromError(secret, { requestId: 'req-42', logger });
    expect(f.status).toBe(500);
    expect(f.name).toBe('computeFault');
    expect(f.message).toContain('req-42');
    expect(JSON.stringify(f.body)).not.toContain('secretTableName');
    expect(JSON.stringify(logged)).toContain('req-42');
  });
});
