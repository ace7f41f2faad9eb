import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHandler } from '../../functions/measure-host-health.ts';
import type { HostRecord } from '../../lib/contracts/records.ts';
import { HEALTH_SERVICE } from '../../lib/logger.ts';
import { createMetrics } from '../../lib/metrics.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { captureStdout } from '../helpers/stdout-lines.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';

// The HostsDown alarm's source: the directory's host records (dynalite), counted as os-services
// sees them, published as one EMF line.
const aws = useLocalAws();
afterEach(() => vi.restoreAllMocks());

const host = (name: string, heartbeatAt: number, extra: Partial<HostRecord> = {}): HostRecord => ({
  host: name, queueUrl: `http://127.0.0.1:1/000000000000/vmconsole-test-host-${name}`, hypervisor: 'files', heartbeatAt, heartbeatIntervalMs: 10_000, agentVersion: '0.1.0', ...extra,
});

describe('measureHostHealth (scheduled)', () => {
  it('counts hosts up, down (silent past the liveness window) and in maintenance, as one EMF line naming the down hosts', async () => {
    const now = Date.now();
    await aws.directory.putHost(host('cmp-up-1', now - 1_000));
    await aws.directory.putHost(host('cmp-up-2', now - 5_000));
    await aws.directory.putHost(host('cmp-silent', now - 10 * 60_000));
    await aws.directory.putHost(host('cmp-stopped', now - 10 * 60_000, { maintenance: { since: now - 10 * 60_000, reason: 'maintenance: agent stopped' } }));
    const logger = recordingLogger();
    const stdout = captureStdout();

    const counts = await createHandler({ directory: aws.directory, metrics: createMetrics(HEALTH_SERVICE), logger, now: () => now })();

    expect(counts).toEqual({ up: 2, down: 1, inMaintenance: 1, downHosts: ['cmp-silent'] });
    const emf = stdout.lines().filter((l) => l._aws);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'vmconsole', Dimensions: [['service']], Metrics: [{ Name: 'HostsUp', Unit: 'Count' }, { Name: 'HostsDown', Unit: 'Count' }, { Name: 'HostsInMaintenance', Unit: 'Count' }] }] },
      service: 'vmconsole-health', HostsUp: 2, HostsDown: 1, HostsInMaintenance: 1, downHosts: 'cmp-silent',
    });
    expect(logger.entries).toEqual([{ level: 'warn', message: 'hosts down', data: { down: 1, hosts: ['cmp-silent'] } }]);
  });
});
