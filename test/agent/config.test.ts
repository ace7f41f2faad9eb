import { describe, expect, it } from 'vitest';
import { AGENT_VARIABLES, readAgentConfig } from '../../lib/agent/config.ts';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';

const base = { VMCONSOLE_HOST: 'compute-1', VMCONSOLE_TABLE: 'vmconsole-prod-directory' };

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    readAgentConfig(env);
  } catch (err) {
    return (err as { problems: string[] }).problems;
  }
  throw new Error('configuration was accepted');
}

describe('agent configuration', () => {
  it('defaults to a Nova host: libvirt section with the system URI and Nova paths, 16 in flight, 40 s heartbeat', () => {
    expect(readAgentConfig(base)).toEqual({
      host: 'compute-1', tableName: 'vmconsole-prod-directory',
      hostQueuePrefix: 'vmconsole-host-', replyQueuePrefix: 'vmconsole-reply-',
      logRoots: ['/var/log/libvirt/qemu', '/var/lib/nova/instances'], concurrency: 16, heartbeatMs: 40_000, protocolMax: PROTOCOL_VERSION, follow: 'auto', registrar: 'agent',
      driver: { kind: 'libvirt', uri: 'qemu:///system', instancesDir: '/var/lib/nova/instances' },
    });
  });

  it('gives the files driver a section of its own, without the libvirt URI', () => {
    const config = readAgentConfig({ ...base, VMCONSOLE_DRIVER: 'files', VMCONSOLE_INSTANCES_DIR: '/srv/instances', VMCONSOLE_LIBVIRT_URI: '' });
    expect(config.driver).toEqual({ kind: 'files', instancesDir: '/srv/instances' });
  });

  it('checks a driver\'s variables only for that driver', () => {
    expect(problemsOf({ ...base, VMCONSOLE_DRIVER: 'files', VMCONSOLE_INSTANCES_DIR: 'relative' })).toEqual(['VMCONSOLE_INSTANCES_DIR must be an absolute path (got "relative")']);
    expect(readAgentConfig({ ...base, VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: 'qemu+ssh://lab/system' }).driver).toMatchObject({ uri: 'qemu+ssh://lab/system' });
  });

  it('names every missing required variable at once', () => {
    expect(problemsOf({})).toEqual(['VMCONSOLE_HOST is required', 'VMCONSOLE_TABLE is required']);
  });

  it('names the variable and its rule for a bad value, never a schema field', () => {
    expect(problemsOf({ ...base, VMCONSOLE_HOST: 'bad host!' })).toEqual(['VMCONSOLE_HOST must be 1-60 of [A-Za-z0-9_-], not ending in -dlq (got "bad host!")']);
    expect(problemsOf({ ...base, VMCONSOLE_HOST: 'compute-1-dlq' })).toEqual(['VMCONSOLE_HOST must be 1-60 of [A-Za-z0-9_-], not ending in -dlq (got "compute-1-dlq")']);
    expect(problemsOf({ ...base, VMCONSOLE_LOG_ROOTS: 'var/log' })).toEqual(['VMCONSOLE_LOG_ROOTS must be a colon-separated list of absolute paths (semicolon-separated on Windows) (got "var/log")']);
    expect(problemsOf({ ...base, VMCONSOLE_DRIVER: 'xen' })).toEqual(['VMCONSOLE_DRIVER must be one of libvirt, files, hyperv (got "xen")']);
    expect(problemsOf({ ...base, VMCONSOLE_CONCURRENCY: '65' })).toEqual(['VMCONSOLE_CONCURRENCY must be an integer from 1 to 64 (got "65")']);
  });

  it('refuses a heartbeat slower than one minute of dead-host detection allows', () => {
    expect(problemsOf({ ...base, VMCONSOLE_HEARTBEAT_MS: '40001' })).toEqual(['VMCONSOLE_HEARTBEAT_MS must be an integer from 200 to 40000 (got "40001")']);
    expect(readAgentConfig({ ...base, VMCONSOLE_HEARTBEAT_MS: '40000' }).heartbeatMs).toBe(40_000);
  });

  it('refuses a host queue name SQS would reject (80 characters with "-dlq")', () => {
    const host = 'h'.repeat(60);
    expect(problemsOf({ ...base, VMCONSOLE_HOST: host, VMCONSOLE_HOST_QUEUE_PREFIX: 'vmconsole-production-host-' }))
      .toEqual(['VMCONSOLE_HOST_QUEUE_PREFIX + VMCONSOLE_HOST must be at most 76 characters (SQS queue names are 80 with "-dlq")']);
    expect(readAgentConfig({ ...base, VMCONSOLE_HOST: host, VMCONSOLE_HOST_QUEUE_PREFIX: 'vmc-host-' }).host).toBe(host);
  });

  it('refuses reply destinations that would let replies land on host queues', () => {
    expect(problemsOf({ ...base, VMCONSOLE_REPLY_QUEUE_URL_PREFIX: 'https://sqs.us-east-1.amazonaws.com/123456789012/' }))
      .toEqual([expect.stringMatching(/^VMCONSOLE_REPLY_QUEUE_URL_PREFIX must /)]);
    expect(problemsOf({ ...base, VMCONSOLE_REPLY_QUEUE_URL_PREFIX: 'https://sqs.us-east-1.amazonaws.com/123456789012/vmconsole-' }))
      .toEqual(['VMCONSOLE_REPLY_QUEUE_URL_PREFIX must not overlap VMCONSOLE_HOST_QUEUE_PREFIX (replies would land on host queues)']);
    expect(problemsOf({ ...base, VMCONSOLE_REPLY_QUEUE_PREFIX: 'vmconsole-host-x' }))
      .toEqual(['VMCONSOLE_REPLY_QUEUE_PREFIX must not overlap VMCONSOLE_HOST_QUEUE_PREFIX (replies would land on host queues)']);
  });

  it('reads the relay\'s tunnel prefixes (normalised), and refuses ones that could admit another host or are not WebSocket URLs', () => {
    expect(readAgentConfig(base).relayUrlPrefixes).toBeUndefined();
    expect(readAgentConfig({ ...base, VMCONSOLE_RELAY_URL_PREFIXES: 'wss://Relay.example.com/tunnel/, ws://127.0.0.1:6090/t/' }).relayUrlPrefixes)
      .toEqual(['wss://relay.example.com/tunnel/', 'ws://127.0.0.1:6090/t/']);
    for (const bad of ['wss://relay.example.com', 'https://relay.example.com/tunnel/', 'ws://user@relay/t/', 'ws://relay/t/?x=1']) {
      expect(problemsOf({ ...base, VMCONSOLE_RELAY_URL_PREFIXES: bad })).toEqual([expect.stringMatching(/^VMCONSOLE_RELAY_URL_PREFIXES must be a comma-separated list of ws:\/\/ or wss:\/\/ URL prefixes/)]);
    }
  });

  it('has a rule for every variable it validates, so no error reads "must undefined"', () => {
    const validated = AGENT_VARIABLES.filter((v) => v.name.startsWith('VMCONSOLE_') && !v.name.endsWith('_ENDPOINT'));
    expect(validated.every((v) => v.rule)).toBe(true);
  });
});
