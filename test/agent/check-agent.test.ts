/**
 * checkAgent in process (lib/agent/check-agent.ts), for what the CLI suite (cli.test.ts) does not
 * reach: a registered host's heartbeat age, the libvirt driver answering, and one line per result.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkAgent, formatCheck } from '../../lib/agent/check-agent.ts';
import { readAgentConfig } from '../../lib/agent/config.ts';
import { requireToolsOrSkip } from '../helpers/require-tools.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { enrolTestHost, filesDriverEnv } from '../helpers/agent-process.ts';

const aws = useLocalAws();
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-check-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const envFor = (host: string, extra: Record<string, string> = {}) => ({
  ...aws.env, VMCONSOLE_HOST: host, ...filesDriverEnv(work), ...extra,
});
const check = (env: Record<string, string>) => checkAgent(readAgentConfig(env), env);

describe('checkAgent', () => {
  it('fails the sqs check of a host that is not enrolled, saying how to enrol it', async () => {
    const [, sqs] = await check(envFor('check-not-enrolled'));
    expect(sqs).toEqual({ name: 'sqs', ok: false, found: expect.stringMatching(/check-not-enrolled does not exist: enrol this host first \(vmconsole-agent --enrol/) });
  });

  it('tells how long ago a registered host last beat', async () => {
    await aws.directory.putHost({ host: 'check-beat', queueUrl: 'http://127.0.0.1:1/000000000000/q', hypervisor: 'files', heartbeatAt: Date.now() - 42_000, heartbeatIntervalMs: 40_000, agentVersion: 'test' });
    const [dynamodb] = await check(envFor('check-beat'));
    // 42 s, or 43 when the check itself is slow to run.
    expect(dynamodb).toEqual({ name: 'dynamodb', ok: true, found: expect.stringMatching(new RegExp(`^table ${aws.env.VMCONSOLE_TABLE} answers; last heartbeat 4[23] s ago$`)) });
  });

  it('returns one result per check, in order, each printed on one line', async () => {
    await enrolTestHost(aws.env, 'check-lines');
    const results = await check(envFor('check-lines'));
    expect(results.map((r) => [r.name, r.ok])).toEqual([['dynamodb', true], ['sqs', true], ['hypervisor', true], [`log root ${work}`, true]]);
    expect(results.map(formatCheck)).toEqual(results.map((r) => `ok   ${r.name}: ${r.found}`));
    expect(formatCheck({ name: 'sqs', ok: false, found: 'ECONNREFUSED' })).toBe('FAIL sqs: ECONNREFUSED');
  });

  describe.runIf(requireToolsOrSkip(['virsh']))('with the libvirt driver', () => {
    it('asks libvirt for its daemon and lists its servers', async () => {
      const results = await check(envFor('check-libvirt', { VMCONSOLE_DRIVER: 'libvirt', VMCONSOLE_LIBVIRT_URI: 'test:///default' }));
      const hypervisor = results.find((r) => r.name === 'hypervisor');
      expect(hypervisor).toMatchObject({ ok: true, found: expect.stringMatching(/^libvirt at test:\/\/\/default \(daemon .+\); \d+ server\(s\) listed$/) });
    });
  });
});
