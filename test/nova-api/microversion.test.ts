import { describe, expect, it } from 'vitest';
import { isVmconsoleError } from '../../lib/errors.ts';
import { formatMicroversion, MAX_MICROVERSION, microversionHeaders, parseMicroversion } from '../../lib/nova-api/microversion.ts';

const MAX = formatMicroversion(MAX_MICROVERSION);

function parsed(headers: Record<string, string>): string {
  return formatMicroversion(parseMicroversion(headers));
}

function failure(headers: Record<string, string>): { code: string; message: string } {
  try {
    parseMicroversion(headers);
  } catch (err) {
    if (isVmconsoleError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('accepted');
}

describe('microversion negotiation', () => {
  it('defaults to 2.1 without headers', () => {
    expect(parsed({})).toBe('2.1');
  });

  it('reads OpenStack-API-Version, also among other services', () => {
    expect(parsed({ 'openstack-api-version': 'compute 2.1' })).toBe('2.1');
    expect(parsed({ 'openstack-api-version': 'placement 1.20, compute 2.1' })).toBe('2.1');
    expect(parsed({ 'openstack-api-version': 'COMPUTE 2.1' })).toBe('2.1');
  });

  it('reads the legacy header, and prefers the modern one when it names compute', () => {
    expect(parsed({ 'x-openstack-nova-api-version': '2.1' })).toBe('2.1');
    expect(parsed({ 'openstack-api-version': 'compute 2.1', 'x-openstack-nova-api-version': '9.9' })).toBe('2.1');
    expect(parsed({ 'openstack-api-version': 'placement 1.2', 'x-openstack-nova-api-version': MAX })).toBe(MAX);
  });

  it('maps latest to the maximum', () => {
    expect(parsed({ 'openstack-api-version': 'compute latest' })).toBe(MAX);
    expect(parsed({ 'x-openstack-nova-api-version': 'latest' })).toBe(MAX);
  });

  it.each(['2', '2.', '2.01', 'abc', '2.1.1', '-2.1', 'compute', ''])('rejects malformed %j with 400', (v) => {
    const f = failure({ 'openstack-api-version': `compute ${v}` });
    expect(f.code).toBe('BadRequest');
    expect(f.message).toMatch(/is of invalid format/);
  });

  it.each(['2.0', '1.1', '3.0', '2.93', '2.9'])('rejects %s outside [2.1, max] with 406 and Nova\'s message', (v) => {
    const f = failure({ 'x-openstack-nova-api-version': v });
    expect(f.code).toBe('NotAcceptable');
    expect(f.message).toBe(`Version ${v} is not supported by the API. Minimum is 2.1 and maximum is ${MAX}.`);
  });

  it('echo headers name compute and vary on both request headers', () => {
    expect(microversionHeaders({ major: 2, minor: 1 })).toEqual({
      'OpenStack-API-Version': 'compute 2.1',
      'X-OpenStack-Nova-API-Version': '2.1',
      Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
    });
  });
});
