/**
 * Who may be answered, as configured: the agents' client reply prefixes (VMCONSOLE_CLIENT_REPLY_URL_PREFIXES)
 * and the router's settings, each refused with a message naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../lib/agent/config.ts';
import { readRouterConfig } from '../../lib/automation/router-config.ts';

const ACCOUNT = 'https://sqs.us-east-1.amazonaws.com/123456789012/';
const agentBase = { VMCONSOLE_HOST: 'compute-1', VMCONSOLE_TABLE: 'vmconsole-prod-directory' };

function agentProblems(env: NodeJS.ProcessEnv): string[] {
  try {
    readAgentConfig(env);
  } catch (err) {
    return (err as { problems: string[] }).problems;
  }
  throw new Error('configuration was accepted');
}

describe('an agent\'s client reply prefixes', () => {
  it('are none unless set: such an agent refuses batches', () => {
    expect(readAgentConfig(agentBase).clientReplyUrlPrefixes).toBeUndefined();
  });

  it('are a comma-separated list of queue URL prefixes', () => {
    const config = readAgentConfig({ ...agentBase, VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: ` ${ACCOUNT}vmconsole-prod-client-, ${ACCOUNT}nightly-` });
    expect(config.clientReplyUrlPrefixes).toEqual([`${ACCOUNT}vmconsole-prod-client-`, `${ACCOUNT}nightly-`]);
  });

  it.each([
    ['an account without a name prefix (every queue of it)', ACCOUNT],
    ['not a URL', 'vmconsole-prod-client-'],
  ])('refuses %s', (_, value) => {
    expect(agentProblems({ ...agentBase, VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: value })).toEqual([expect.stringMatching(/^VMCONSOLE_CLIENT_REPLY_URL_PREFIXES must be a comma-separated list of SQS queue URL prefixes/)]);
  });

  it('refuses a prefix that covers the host queues (a reply would be read as a request)', () => {
    expect(agentProblems({ ...agentBase, VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: `${ACCOUNT}vmconsole-host-` }))
      .toEqual(['VMCONSOLE_CLIENT_REPLY_URL_PREFIXES must not overlap VMCONSOLE_HOST_QUEUE_PREFIX (replies would land on host queues)']);
  });
});

describe('the router\'s configuration', () => {
  const base = { VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: `${ACCOUNT}vmconsole-prod-client-` };

  it('defaults: tokens optional, rates in servers (100/s per project, a burst of one full request)', () => {
    expect(readRouterConfig(base)).toEqual({
      clientReplyUrlPrefixes: [`${ACCOUNT}vmconsole-prod-client-`],
      requireToken: false,
      rateLimits: { project: { ratePerSecond: 100, burst: 1000 }, api: { ratePerSecond: 1000, burst: 5000 } },
    });
  });

  it('takes empty strings (what serverless.yml passes for unset variables) as the defaults', () => {
    expect(readRouterConfig({ ...base, VMCONSOLE_QUEUE_REQUIRE_TOKEN: '', VMCONSOLE_QUEUE_RATE_PROJECT_PER_S: '' }).rateLimits.project.ratePerSecond).toBe(100);
  });

  it('VMCONSOLE_QUEUE_REQUIRE_TOKEN=true makes tokens mandatory; anything but true/false is refused', () => {
    expect(readRouterConfig({ ...base, VMCONSOLE_QUEUE_REQUIRE_TOKEN: 'true' }).requireToken).toBe(true);
    expect(() => readRouterConfig({ ...base, VMCONSOLE_QUEUE_REQUIRE_TOKEN: 'yes' })).toThrow(/VMCONSOLE_QUEUE_REQUIRE_TOKEN/);
  });

  it('needs the client prefixes: without them no reply could be sent', () => {
    expect(() => readRouterConfig({})).toThrow(/VMCONSOLE_CLIENT_REPLY_URL_PREFIXES is required/);
    expect(() => readRouterConfig({ VMCONSOLE_CLIENT_REPLY_URL_PREFIXES: ACCOUNT })).toThrow(/VMCONSOLE_CLIENT_REPLY_URL_PREFIXES.* must be SQS queue URL prefixes/);
  });
});
