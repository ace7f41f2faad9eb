import { describe, expect, it } from 'vitest';
import { accountUrlOf, hostQueueName, hostQueueUrl, replyQueueName, ReplyDestinations } from '../../lib/transport/queue-naming.ts';

const ACCOUNT = 'https://sqs.us-east-1.amazonaws.com/123456789012/';

describe('queue names', () => {
  it('a host queue is the prefix plus the host, in the requester\'s own account', () => {
    expect(hostQueueName('vmconsole-prod-host-', 'node-1')).toBe('vmconsole-prod-host-node-1');
    expect(accountUrlOf(`${ACCOUNT}vmconsole-prod-reply-abc`)).toBe(ACCOUNT);
    expect(hostQueueUrl(ACCOUNT, 'vmconsole-prod-host-', 'node-1')).toBe(`${ACCOUNT}vmconsole-prod-host-node-1`);
    expect(() => accountUrlOf('http://evil.example/x?y')).toThrow(/not an SQS queue URL/);
  });

  it('a reply queue gets a fresh name every time (SQS refuses a deleted name for 60 s)', () => {
    const [a, b] = [replyQueueName('r-'), replyQueueName('r-')];
    expect(a).toMatch(/^r-[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
  });
});

describe('allowed reply destinations', () => {
  const edge = ReplyDestinations.forEdgeReplies(`${ACCOUNT}vmconsole-prod-host-node-1`, 'vmconsole-prod-reply-');
  const automation = 'https://sqs.eu-west-1.amazonaws.com/210987654321/vmconsole-automation-';
  const allowed = new ReplyDestinations([edge, automation]);

  it('accepts a queue under any prefix of the list', () => {
    expect(edge).toBe(`${ACCOUNT}vmconsole-prod-reply-`);
    expect(allowed.isAllowedReplyDestination(`${edge}5d1f`)).toBe(true);
    expect(allowed.isAllowedReplyDestination(`${automation}job-7`)).toBe(true);
  });

  it.each([
    ['the prefix itself', `${ACCOUNT}vmconsole-prod-reply-`],
    ['another queue of the same account', `${ACCOUNT}vmconsole-prod-host-node-2`],
    ['another account', 'https://sqs.us-east-1.amazonaws.com/999999999999/vmconsole-prod-reply-x'],
    ['plain http to another host', 'http://attacker.example/123456789012/vmconsole-prod-reply-x'],
    ['dot-dot', `${ACCOUNT}vmconsole-prod-reply-x/../vmconsole-prod-host-node-2`],
    ['query string', `${ACCOUNT}vmconsole-prod-reply-x?QueueUrl=y`],
    ['fragment', `${ACCOUNT}vmconsole-prod-reply-x#y`],
    ['userinfo', 'https://evil@sqs.us-east-1.amazonaws.com/123456789012/vmconsole-prod-reply-x'],
    ['host suffix', 'https://sqs.us-east-1.amazonaws.com.evil.example/123456789012/vmconsole-prod-reply-x'],
    ['encoded slash', `${ACCOUNT}vmconsole-prod-reply-x%2f..`],
  ])('refuses %s', (_, url) => {
    expect(allowed.isAllowedReplyDestination(url)).toBe(false);
  });

  it('refuses an empty list or a prefix that is not an account URL plus a name prefix', () => {
    expect(() => new ReplyDestinations([])).toThrow(/at least one/);
    expect(() => new ReplyDestinations(['https://sqs.us-east-1.amazonaws.com/'])).toThrow(/invalid reply queue URL prefix/);
    expect(() => new ReplyDestinations([`${ACCOUNT}x/`])).toThrow(/invalid reply queue URL prefix/);
  });

  it('refuses a prefix that would allow every queue of the account, or one that overlaps the host queues', () => {
    // An empty name prefix admits host queues and dead-letter queues: a reply would be read as a request.
    expect(() => new ReplyDestinations([ACCOUNT])).toThrow(/invalid reply queue URL prefix/);
    expect(() => new ReplyDestinations([`${ACCOUNT}vmconsole-prod-`], 'vmconsole-prod-host-')).toThrow(/overlaps the host queue prefix/);
    expect(() => new ReplyDestinations([`${ACCOUNT}vmconsole-prod-host-x`], 'vmconsole-prod-host-')).toThrow(/overlaps the host queue prefix/);
    expect(new ReplyDestinations([`${ACCOUNT}vmconsole-prod-reply-`], 'vmconsole-prod-host-').prefixes).toHaveLength(1);
  });
});
