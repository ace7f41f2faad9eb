import { randomUUID } from 'node:crypto';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type AgentRequest } from '../../lib/contracts/messages.ts';
import { VmconsoleError } from '../../lib/errors.ts';
import {
  ATTRIBUTE, decodeReply, decodeRequest, encodeReply, encodeRequest, errorReply, MAX_ERROR_DETAIL, MAX_ERROR_MESSAGE, MAX_WAIT_MS, okReply,
  type DecodedRequest, type RequestRules, type WireMessage,
} from '../../lib/transport/envelope.ts';

const NOW = 1_800_000_000_000;
const REPLY_QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/vmconsole-reply-5d1f';
const rules: RequestRules = { isAllowedReplyDestination: (url) => url === REPLY_QUEUE, now: NOW };
const request: AgentRequest = { v: PROTOCOL_VERSION, kind: 'console.output', server: { id: randomUUID(), instanceName: 'instance-1' }, length: 5 };
const good = () => encodeRequest({ request, correlationId: 'c-1', replyTo: REPLY_QUEUE, deadline: NOW + 10_000, requestId: 'req-1' });

/** The good request with one attribute replaced (undefined: removed). */
function withAttribute(name: keyof typeof ATTRIBUTE, value: MessageAttributeValue | undefined): WireMessage {
  const message = good();
  if (value === undefined) delete message.MessageAttributes[ATTRIBUTE[name]];
  else message.MessageAttributes[ATTRIBUTE[name]] = value;
  return message;
}
const decode = (m: WireMessage, r: RequestRules = rules): DecodedRequest => decodeRequest({ Body: m.MessageBody, MessageAttributes: m.MessageAttributes }, r);
const reasonOf = (m: WireMessage, r?: RequestRules) => {
  const decoded = decode(m, r);
  return decoded.ok ? undefined : decoded.reason;
};
const str = (StringValue: string): MessageAttributeValue => ({ DataType: 'String', StringValue });
const num = (StringValue: string): MessageAttributeValue => ({ DataType: 'Number', StringValue });

describe('a request', () => {
  it('round-trips body and every attribute', () => {
    expect(decode(good())).toEqual({ ok: true, request, correlationId: 'c-1', replyTo: REPLY_QUEUE, deadline: NOW + 10_000, requestId: 'req-1' });
    expect(Object.keys(good().MessageAttributes).sort()).toEqual(['correlationId', 'deadline', 'replyTo', 'requestId']);
  });

  describe.each(['correlationId', 'requestId'] as const)('%s', (name) => {
    it('is required', () => expect(reasonOf(withAttribute(name, undefined))).toBe(`${name}: missing`));
    it('is a String', () => expect(reasonOf(withAttribute(name, num('12')))).toBe(`${name}: must be of type String`));
    it('is at most 128 characters', () => {
      expect(decode(withAttribute(name, str('x'.repeat(128)))).ok).toBe(true);
      expect(reasonOf(withAttribute(name, str('x'.repeat(129))))).toBe(`${name}: longer than 128 characters`);
    });
    it.each(['', 'a b', 'req-1\n{"level":"ERROR"}', 'req\u001b[31m', 'réq'])('refuses %j (empty, spaces, control or non-ASCII characters)', (hostile) => {
      expect(reasonOf(withAttribute(name, str(hostile)))).toMatch(new RegExp(`^${name}: `));
    });
  });

  describe('replyTo', () => {
    it('is required', () => expect(reasonOf(withAttribute('replyTo', undefined))).toBe('replyTo: missing'));
    it('is a String', () => expect(reasonOf(withAttribute('replyTo', { DataType: 'Binary', BinaryValue: new Uint8Array([1]) }))).toBe('replyTo: must be of type String'));
    it('must be an allowed destination; the reason quotes it bounded and on one line', () => {
      const hostile = `${REPLY_QUEUE}\n${'x'.repeat(5_000)}`;
      const reason = reasonOf(withAttribute('replyTo', str(hostile)))!;
      expect(reason).toMatch(/^replyTo: not an allowed reply destination: "/);
      expect(reason).not.toContain('\n');
      expect(reason.length).toBeLessThan(300);
    });
  });

  describe('deadline', () => {
    it('is required', () => expect(reasonOf(withAttribute('deadline', undefined))).toBe('deadline: missing'));
    it('is a Number', () => expect(reasonOf(withAttribute('deadline', str(String(NOW + 1_000))))).toBe('deadline: must be of type Number'));
    it.each(['1.8e12', '1800000000000.5', '-1', 'NaN', 'Infinity', '0x1A', ' 1800000000000', '99999999999999999'])('refuses %j: not epoch milliseconds as a safe integer', (value) => {
      expect(reasonOf(withAttribute('deadline', num(value)))).toMatch(/^deadline: not epoch milliseconds/);
    });
    it('may be in the past (the responder drops such a request unanswered)', () => {
      expect(decode(withAttribute('deadline', num('0')))).toMatchObject({ ok: true, deadline: 0 });
    });
    it('is at most the maximum wait ahead', () => {
      expect(decode(withAttribute('deadline', num(String(NOW + MAX_WAIT_MS)))).ok).toBe(true);
      expect(reasonOf(withAttribute('deadline', num(String(NOW + MAX_WAIT_MS + 1))))).toMatch(/^deadline: \d+ is more than 300000 ms ahead/);
      expect(reasonOf(withAttribute('deadline', num(String(NOW + 5_000))), { ...rules, maxWaitMs: 1_000 })).toMatch(/more than 1000 ms ahead/);
    });
    it('past 2^32 ms ahead is refused: the wait it asks for cannot even be set (RangeError), so it was never answered', () => {
      const deadline = NOW + 2 ** 32 + 10_000;
      expect(() => AbortSignal.timeout(deadline - NOW)).toThrow(RangeError);
      expect(reasonOf(withAttribute('deadline', num(String(deadline))))).toMatch(/^deadline: .* more than/);
    });
  });

  describe('body', () => {
    const withBody = (body: string): WireMessage => ({ ...good(), MessageBody: body });
    it('is JSON', () => expect(reasonOf(withBody('{"v":1,'))).toBe('body: not JSON'));
    it('is accepted in every version from MIN_PROTOCOL_VERSION to this build\'s, and refused above a pinned protocolMax as an old build would', () => {
      for (let v = MIN_PROTOCOL_VERSION; v <= PROTOCOL_VERSION; v++) expect(decode(withBody(JSON.stringify({ ...request, v })))).toMatchObject({ ok: true, request: { v } });
      const pinned = decode(withBody(JSON.stringify({ ...request, v: PROTOCOL_VERSION })), { ...rules, protocolMax: PROTOCOL_VERSION - 1 });
      expect(pinned).toMatchObject({ ok: false, reason: `body: protocol version ${PROTOCOL_VERSION} is newer than this agent speaks (at most ${PROTOCOL_VERSION - 1})` });
    });

    it('is a known kind in this protocol version, with no extra keys', () => {
      expect(reasonOf(withBody(JSON.stringify({ ...request, v: PROTOCOL_VERSION + 1 })))).toMatch(/^body: does not match the request schema/);
      expect(reasonOf(withBody(JSON.stringify({ ...request, v: MIN_PROTOCOL_VERSION - 1 })))).toMatch(/^body: does not match the request schema/);
      expect(reasonOf(withBody(JSON.stringify({ v: PROTOCOL_VERSION, kind: 'shell.exec', command: 'id' })))).toMatch(/^body: does not match/);
      expect(reasonOf(withBody(JSON.stringify({ ...request, path: '/etc/passwd' })))).toMatch(/^body: does not match/);
    });
    it('reports the ids it could read with the poison, for the operator', () => {
      expect(decode(withBody('nope'))).toEqual({ ok: false, reason: 'body: not JSON', correlationId: 'c-1', requestId: 'req-1' });
    });
  });
});

describe('a reply', () => {
  const received = (m: WireMessage) => decodeReply({ Body: m.MessageBody, MessageAttributes: m.MessageAttributes });
  const withBody = (body: unknown) => received({ ...encodeReply('c-1', okReply(1)), MessageBody: JSON.stringify(body) });

  it('round-trips a result and an error', () => {
    expect(received(encodeReply('c-1', okReply({ output: 'x' })))).toEqual({ ok: true, correlationId: 'c-1', reply: { v: PROTOCOL_VERSION, ok: true, result: { output: 'x' } } });
    const failed = errorReply(new VmconsoleError('NoConsole', 'This server has no console log.', { detail: 'no <serial> in the domain XML' }));
    expect(received(encodeReply('c-1', failed))).toMatchObject({ ok: true, reply: { ok: false, error: { code: 'NoConsole', message: 'This server has no console log.', detail: 'no <serial> in the domain XML' } } });
  });

  it('correlationId is required, a String, bounded and printable', () => {
    const m = encodeReply('c-1', okReply(1));
    expect(received({ ...m, MessageAttributes: {} })).toMatchObject({ ok: false, correlationId: undefined, reason: 'correlationId: missing' });
    expect(received({ ...m, MessageAttributes: { correlationId: num('1') } })).toMatchObject({ ok: false, reason: 'correlationId: must be of type String' });
    expect(received({ ...m, MessageAttributes: { correlationId: str('c'.repeat(129)) } })).toMatchObject({ ok: false, reason: 'correlationId: longer than 128 characters' });
    expect(received({ ...m, MessageAttributes: { correlationId: str('c\n1') } })).toMatchObject({ ok: false });
  });

  it('body: v, ok and exactly one of result or error', () => {
    expect(received({ ...encodeReply('c-1', okReply(1)), MessageBody: 'not json' })).toMatchObject({ ok: false, correlationId: 'c-1', reason: 'body: not JSON' });
    expect(withBody({ v: PROTOCOL_VERSION + 1, ok: true, result: 1 })).toMatchObject({ ok: false });
    expect(withBody({ v: MIN_PROTOCOL_VERSION, ok: true, result: 1 })).toMatchObject({ ok: true });
    expect(withBody({ v: 1, ok: 'probably', result: 1 })).toMatchObject({ ok: false });
    expect(withBody({ v: 1, ok: true, result: 1, error: {} })).toMatchObject({ ok: false });
    expect(withBody({ v: 1, ok: false, error: { code: 'NoConsole', message: 'm', stack: 'at /opt/x.js' } })).toMatchObject({ ok: false });
  });

  it('error.code is a catalogued code', () => {
    expect(withBody({ v: 1, ok: false, error: { code: 'Teapot', message: 'm' } })).toMatchObject({ ok: false });
    expect(withBody({ v: 1, ok: false, error: { code: 42, message: 'm' } })).toMatchObject({ ok: false });
  });

  it('error.message and error.detail are bounded strings: the sender caps them, the receiver refuses longer', () => {
    const long = errorReply(new VmconsoleError('Forbidden', 'm'.repeat(10_000), { detail: 'd'.repeat(10_000) }));
    expect(long.error.message).toHaveLength(MAX_ERROR_MESSAGE);
    expect(long.error.detail).toHaveLength(MAX_ERROR_DETAIL);
    expect(received(encodeReply('c-1', long)).ok).toBe(true);
    expect(withBody({ v: 1, ok: false, error: { code: 'Forbidden', message: 'm'.repeat(MAX_ERROR_MESSAGE + 1) } })).toMatchObject({ ok: false });
    expect(withBody({ v: 1, ok: false, error: { code: 'Forbidden', message: 'm', detail: 'd'.repeat(MAX_ERROR_DETAIL + 1) } })).toMatchObject({ ok: false });
    expect(withBody({ v: 1, ok: false, error: { code: 'Forbidden', message: 7 } })).toMatchObject({ ok: false });
  });

  it('anything thrown that is not a VmconsoleError is Internal, its text only in detail', () => {
    expect(errorReply(new Error('EACCES: /var/lib/nova/instances/x/console.log')).error).toEqual({
      code: 'Internal', message: 'The request failed on the compute host.', detail: 'EACCES: /var/lib/nova/instances/x/console.log',
    });
  });
});
