/**
 * Queue-driven automation on the `npm start` stack: the request queue and its DLQ, the local poller
 * invoking the router through serverless-offline's Lambda endpoint, the demo agent answering the
 * client's queue; the README's example script run as a user runs it, from stack.env.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { readStackEnv } from '../../lib/local/stack-env.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { useLocalStack } from '../helpers/suite-setup.ts';
import { queueDepth } from '../helpers/transport-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const local = useLocalStack('automation');

/** examples/collect-console-logs.ts with the stack's join file as its environment, as the README shows. */
async function collect(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = await readStackEnv(local.stack.envFile);
  const child = spawn(process.execPath, ['examples/collect-console-logs.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c));
  child.stderr.on('data', (c: Buffer) => (stderr += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

async function novaOutput(serverId: string, length: number): Promise<string> {
  const res = await fetch(`${local.endpoint}/servers/${serverId}/action`, {
    method: 'POST', headers: { 'X-Auth-Token': 'demo:demo', 'Content-Type': 'application/json' }, body: JSON.stringify({ 'os-getConsoleOutput': { length } }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { output: string }).output;
}

describe('queue-driven automation on the local stack', () => {
  it('writes the request queue and the client prefix to stack.env', async () => {
    const env = await readStackEnv(local.stack.envFile);
    expect(env.VMCONSOLE_REQUEST_QUEUE_URL).toBe(local.stack.requestQueueUrl);
    expect(env.VMCONSOLE_REQUEST_QUEUE_URL).toMatch(/\/vmconsole-local-requests$/);
    expect(env.VMCONSOLE_CLIENT_REPLY_URL_PREFIXES).toBe(local.stack.clientReplyUrlPrefix);
  });

  it('the example collects a project: every server\'s output is the Nova API\'s, exit 0', async () => {
    const { code, stdout, stderr } = await collect(['--project', 'demo', '--length', '5', '--token', 'demo:demo', '--json', '--timeout', '60']);
    expect(stderr).toMatch(/: 3 servers, 3 ok, 0 failed/);
    expect(code).toBe(0);
    const replies = stdout.trim().split('\n').map((line) => JSON.parse(line) as { serverId: string; ok: boolean; output: string; seq: number });
    expect(replies.map((r) => r.seq).sort()).toEqual([1, 2, 3]);
    for (const reply of replies) expect(reply.output).toBe(await novaOutput(reply.serverId, 5));
  });

  it('the example prints a table and exits 1 when a server failed', async () => {
    const [web] = local.stack.demoServers;
    const unknown = '3f4b2f4e-8a1c-4d2e-9b7a-00000000dead';
    const { code, stdout, stderr } = await collect(['--servers', `${web.id},${unknown}`, '--length', '2', '--timeout', '60']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/: 2 servers, 1 ok, 1 failed/);
    expect(stdout).toContain(web.id);
    expect(stdout).toContain(`ServerNotFound: Instance ${unknown} could not be`); // clipped to the table's column
  });

  it('a message without a usable replyTo goes through the poller to the DLQ (batchItemFailures honoured), never answered', async () => {
    const sqs = createSqsClient(local.stack.env);
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: local.stack.requestQueueUrl, MessageBody: 'not json at all' }));
      await waitFor(async () => (await queueDepth(sqs, local.stack.requestDlqUrl)) === 1, 45_000, 'the malformed request in the DLQ');
      expect(await queueDepth(sqs, local.stack.requestQueueUrl)).toBe(0);
    } finally {
      sqs.destroy();
    }
  }, 60_000);
});
