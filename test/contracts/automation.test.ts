/**
 * The public automation contract (lib/contracts/automation.ts) as a client's message body is read
 * (lib/transport/envelope.ts, decodeAutomationRequest): what is accepted, and for what is refused,
 * the problem and whether a reply can still be sent (a usable replyTo and requestId).
 */
import { describe, expect, it } from 'vitest';
import { AutomationReply, MAX_REQUEST_BYTES, MAX_SERVERS_PER_REQUEST } from '../../lib/contracts/automation.ts';
import { decodeAutomationReply, decodeAutomationRequest, encodeAutomationReply } from '../../lib/transport/envelope.ts';

const REPLY_TO = 'http://sqs.us-east-1.127.0.0.1:4566/000000000000/client-replies-1';
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const base = { v: 1, requestId: 'nightly-42', replyTo: REPLY_TO, kind: 'console.output' };
const decode = (body: unknown) => decodeAutomationRequest(typeof body === 'string' ? body : JSON.stringify(body));

describe('an automation request', () => {
  it.each([
    ['servers', { servers: [id(1), id(2)] }],
    ['a project', { project: 'proj-a' }],
    ['a host', { host: 'compute-1' }],
  ])('names %s', (_, target) => {
    const decoded = decode({ ...base, length: 20, ...target, token: 'demo:demo' });
    expect(decoded).toMatchObject({ ok: true, request: { ...base, length: 20, ...target, token: 'demo:demo' } });
  });

  it.each([
    [undefined, undefined], [null, null], [5, 5], ['5', 5], ['007', 7], [-1, -1], ['-1', -1], [0, 0],
  ])('takes length %j as Nova does (%j)', (length, expected) => {
    const decoded = decode({ ...base, servers: [id(1)], ...(length !== undefined && { length }) });
    expect(decoded.ok && decoded.request.length).toBe(expected);
  });

  it.each(['2.0', '1E2', '-2', '"-2"', '"+5"', '""', 'true', '{}'])('refuses length %s, as Nova does', (length) => {
    const decoded = decode(`{"v":1,"requestId":"r1","replyTo":"${REPLY_TO}","kind":"console.output","servers":["${id(1)}"],"length":${length}}`);
    expect(decoded).toMatchObject({ ok: false, code: 'BadRequest', replyTo: REPLY_TO, requestId: 'r1' });
  });

  it('takes 1,000 servers', () => {
    const servers = Array.from({ length: MAX_SERVERS_PER_REQUEST }, (_, i) => id(i + 1));
    expect(decode({ ...base, servers }).ok).toBe(true);
  });

  it.each([
    ['malformed JSON', '{"v":1,', 'the message body is not JSON', false],
    ['a wrong v', { ...base, v: 2, servers: [id(1)] }, 'v: ', true],
    ['an unknown kind', { ...base, kind: 'console.screenshot', servers: [id(1)] }, 'kind: ', true],
    ['two targets', { ...base, servers: [id(1)], project: 'p' }, 'servers: exactly one of servers, project, host is required', true],
    ['no target', { ...base }, 'servers: exactly one of servers, project, host is required', true],
    ['1,001 servers', { ...base, servers: Array.from({ length: 1001 }, (_, i) => id(i + 1)) }, 'servers: ', true],
    ['no servers', { ...base, servers: [] }, 'servers: ', true],
    ['duplicate ids', { ...base, servers: [id(1), id(1).toUpperCase()] }, 'servers: must not name a server twice', true],
    ['a malformed id', { ...base, servers: ['../etc'] }, 'servers.0: ', true],
    ['an unknown field', { ...base, servers: [id(1)], extra: 1 }, 'Unrecognized key', true],
    ['an empty token', { ...base, servers: [id(1)], token: '' }, 'token: ', true],
  ])('refuses %s with a clear problem', (_, body, problem, answerable) => {
    const decoded = decode(body);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.code).toBe('BadRequest');
    expect(decoded.problem).toContain(problem);
    expect(decoded.replyTo !== undefined && decoded.requestId !== undefined).toBe(answerable);
  });

  it('refuses an oversized body as PayloadTooLarge, still naming where to answer', () => {
    const decoded = decode({ ...base, servers: [id(1)], padding: 'x'.repeat(MAX_REQUEST_BYTES) });
    expect(decoded).toMatchObject({ ok: false, code: 'PayloadTooLarge', replyTo: REPLY_TO, requestId: 'nightly-42' });
  });

  it.each([
    ['not a queue URL', 'https://example.com/'],
    ['a URL with a query', `${REPLY_TO}?x=1`],
    ['not a string', 42],
  ])('has no usable replyTo when it is %s', (_, replyTo) => {
    const decoded = decode({ ...base, replyTo, servers: [id(1)] });
    expect(decoded).toMatchObject({ ok: false, code: 'BadRequest', problem: expect.stringContaining('replyTo') });
    expect(decoded.ok === false && decoded.replyTo).toBeUndefined();
  });

  it('has no usable requestId when it has spaces or is too long', () => {
    for (const requestId of ['with space', 'x'.repeat(129), '']) {
      const decoded = decode({ ...base, requestId, servers: [id(1)] });
      expect(decoded.ok === false && decoded.requestId).toBeUndefined();
    }
  });
});

describe('an automation reply', () => {
  const ok = { v: 1, requestId: 'nightly-42', serverId: id(1), seq: 1, total: 2, ok: true, output: 'boot\n' } as const;
  const failed = { v: 1, requestId: 'nightly-42', serverId: id(2), seq: 2, total: 2, ok: false, error: { code: 'ServerNotFound', message: 'Instance x could not be found.' } } as const;
  const unexpandable = { v: 1, requestId: 'nightly-42', serverId: null, seq: 0, total: 0, ok: false, error: { code: 'BadRequest', message: 'servers: ...' } } as const;

  it.each([['ok', ok], ['failed', failed], ['for a request that could not be expanded', unexpandable]])('round-trips %s', (_, reply) => {
    expect(AutomationReply.parse(reply)).toEqual(reply);
    expect(decodeAutomationReply({ Body: encodeAutomationReply(reply).MessageBody })).toEqual(reply);
  });

  it('is undefined for anything a client should ignore', () => {
    expect(decodeAutomationReply({ Body: 'not json' })).toBeUndefined();
    expect(decodeAutomationReply({ Body: JSON.stringify({ ...ok, output: undefined }) })).toBeUndefined();
    expect(decodeAutomationReply({ Body: JSON.stringify({ ...failed, error: { ...failed.error, detail: '/var/lib/x' } }) })).toBeUndefined();
  });
});
