/**
 * Crash diagnostics on real libvirt, nothing sent by the test: a Nova-style guest with a VNC display
 * boots a real kernel to its panic; the agent's log follower sees the panic line as virtlogd writes
 * it, its first stage sends the event, which goes through the local poller and the diagnose
 * function back to the agent's libvirt driver, and the diagnosis (the real panic, with a screenshot
 * of the guest's screen in S3) is published on SNS.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientOptions } from '../../lib/aws-client-options.ts';
import { startLocalStack, type LocalStack } from '../../lib/local/local-stack.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { startLibvirt, requireLibvirtOrSkip, type LibvirtHarness } from '../harness/libvirt.ts';
import { drain, subscribeQueue } from '../helpers/diagnoses-fixture.ts';

const PANIC = /Kernel panic - not syncing/;
const runnable = requireLibvirtOrSkip();

describe.runIf(runnable)('crash diagnosis of a real libvirt guest through the whole stack', () => {
  let lv: LibvirtHarness;
  let stack: LocalStack;
  let workDir: string;

  beforeAll(async () => {
    lv = await startLibvirt();
    workDir = await mkdtemp(join(tmpdir(), 'vmconsole-system-diagnosis-'));
    stack = await startLocalStack({
      workDir,
      agentEnv: lv.agentEnv('libvirt-host-1', join(workDir, 'nova-instances')),
    });
  }, 480_000);

  afterAll(async () => {
    await stack?.stop();
    await lv?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('a panicking guest with VNC: kernel-panic diagnosis with the real reason and a PNG of its screen, published', async () => {
    const project = randomUUID().replace(/-/g, '');
    const user = randomUUID().replace(/-/g, '');
    const uuid = randomUUID();
    const log = join(lv.logDir, uuid, 'console.log');
    const sqs = createSqsClient(stack.env);
    const sns = new SNSClient(awsClientOptions(stack.aws.sqsEndpoint, stack.env));
    const s3 = new S3Client({ ...awsClientOptions(stack.aws.sqsEndpoint, stack.env), forcePathStyle: true });
    try {
      // Subscribed before the guest exists: the follower may publish before the test would look.
      const queue = await subscribeQueue(sqs, sns, stack.diagnosesTopicArn, { projectId: [project] });
      await mkdir(join(lv.logDir, uuid));
      await lv.create(lv.domainXml({ name: 'instance-000000d1', uuid, console: { type: 'pty', log, append: false }, nova: { name: 'crashy', projectId: project, userId: user }, graphics: 'vnc' }));
      await lv.waitForFile(log, PANIC, 180_000);
      const panicSeen = performance.now();
      const [message] = await drain(sqs, queue, { atLeast: 1, timeoutMs: 60_000 });
      console.log(`real guest: panic line in the log -> diagnosis published within ${(performance.now() - panicSeen).toFixed(0)} ms of the test seeing it`);
      expect(message!.body.trigger).toMatchObject({ source: 'agent-console' });
      expect(message!.attributes).toMatchObject({ category: 'kernel-panic', severity: 'critical', projectId: project });
      expect(message!.body.reason).toMatch(/VFS: Unable to mount root fs/);
      const screenshot = message!.body.screenshot as { bucket: string; key: string; bytes: number };
      expect(screenshot).toMatchObject({ bucket: expect.any(String), key: `screenshots/${uuid}/${message!.body.id}.png`, contentType: 'image/png' });
      const object = await s3.send(new GetObjectCommand({ Bucket: screenshot.bucket, Key: screenshot.key }));
      const png = Buffer.from(await object.Body!.transformToByteArray());
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBe(screenshot.bytes);

      const listed = await fetch(`${stack.url}/vmconsole/v1/servers/${uuid}/diagnoses`, { headers: { 'X-Auth-Token': `${user}:${project}` } });
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { diagnoses: Array<{ id: string }> }).diagnoses.map((d) => d.id)).toEqual([message!.body.id]);
    } finally {
      sqs.destroy();
      sns.destroy();
      s3.destroy();
    }
  }, 300_000);
});
