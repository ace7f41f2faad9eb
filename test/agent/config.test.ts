import { describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../lib/agent/config.ts';

const base = { VMCONSOLE_HOST: 'compute-1', VMCONSOLE_TABLE: 'vmconsole-prod-directory' };

describe('agent configuration', () => {
  it('defaults to a Nova host: libvirt, Nova paths, 16 in flight, 10 s heartbeat', () => {
    expect(readAgentConfig(base)).toMatchObject({
      host: 'compute-1', driver: 'libvirt', libvirtUri: 'qemu:///system', instancesDir: '/var/lib/nova/instances',
      logRoots: ['/var/log/libvirt/qemu', '/var/lib/nova/instances'], concurrency: 16, heartbeatMs: 10_000,
    });
  });

  it('refuses to start without a host name, with one naming the problem', () => {
    expect(() => readAgentConfig({ VMCONSOLE_TABLE: 't-1' })).toThrow(/invalid agent configuration \(host:/);
  });

  it('refuses relative log roots and unknown drivers', () => {
    expect(() => readAgentConfig({ ...base, VMCONSOLE_LOG_ROOTS: 'var/log' })).toThrow(/logRoots/);
    expect(() => readAgentConfig({ ...base, VMCONSOLE_DRIVER: 'xen' })).toThrow(/driver/);
  });

  it('refuses a host queue name SQS would reject (80 characters with "-dlq")', () => {
    const host = 'h'.repeat(60);
    expect(() => readAgentConfig({ ...base, VMCONSOLE_HOST: host, VMCONSOLE_HOST_QUEUE_PREFIX: 'vmconsole-production-host-' })).toThrow(/-dlq/);
    expect(readAgentConfig({ ...base, VMCONSOLE_HOST: host, VMCONSOLE_HOST_QUEUE_PREFIX: 'vmc-host-' }).host).toBe(host);
  });
});
