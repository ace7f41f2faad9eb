import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { awsClientOptions } from '../lib/aws-client-options.ts';
import { startLocalStack } from '../lib/local/local-stack.ts';
import { createSqsClient } from '../lib/transport/sqs-client.ts';
import { summarize, type Summary } from './stats.ts';

const BOOT_LOG = fileURLToPath(new URL('../fixtures/boot-logs/clean-boot-panic.log', import.meta.url));
const ROUNDS = 20;

export interface DetectionResult {
  rounds: number;
  /** From the event being sent to the diagnosis arriving on a queue subscribed to the topic. */
  eventToPublishedMs: Summary;
  /** The same, from just before the crashing boot was appended to the guest's log. */
  logWriteToPublishedMs: Summary;
  /** No event sent by the bench: the agent's follower sees the panic line and sends it (VMCONSOLE_FOLLOW=on). */
  followerRounds: number;
  panicWrittenToPublishedMs: Summary;
}

/** The agent sends one event per server within 10 s (lib/agent/crash-events.ts): rounds take turns over three servers. */
const FOLLOWER_ROUNDS = 12;
const FOLLOWER_SPACING_MS = 3_600;

/**
 * Detection latency on the `npm start` stack: each round a demo server's console log gets a new
 * boot that ends in a kernel panic (the captured boot log, its panic reason made unique so it is a
 * new crash), an event for the server is sent to the events queue at once, and the clock stops
 * when the diagnosis arrives on an SQS queue subscribed to the diagnoses topic (raw delivery, a
 * filter on serverId). Everything between is real: the local poller, serverless-offline running
 * the diagnose function, askHost to the agent process, the analyser over the whole log, DynamoDB,
 * SNS. Then the whole path the issue measures: the demo agent follows its consoles
 * (VMCONSOLE_FOLLOW=on), so writing the panic is all the bench does, and the clock runs from the
 * write to the diagnosis published.
 */
export async function benchDetection(): Promise<DetectionResult> {
  const workDir = await mkdtemp(join(tmpdir(), 'vmconsole-bench-detection-'));
  const stack = await startLocalStack({ workDir, agentEnv: { VMCONSOLE_FOLLOW: 'on' } });
  const sqs = createSqsClient(stack.env);
  const sns = new SNSClient(awsClientOptions(stack.aws.sqsEndpoint, stack.env));
  try {
    const server = stack.demoServers[1];
    const log = join(stack.instancesDir, server.id, 'console.log');
    const boot = await readFile(BOOT_LOG, 'utf8');
    const { QueueUrl: queue } = await sqs.send(new CreateQueueCommand({ QueueName: 'bench-diagnoses' }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({
      TopicArn: stack.diagnosesTopicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn!,
      Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ serverId: [server.id] }) },
    }));
    const fromEvent: number[] = [];
    const fromWrite: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const crashing = boot.replaceAll('unknown-block(0,0)', `unknown-block(${round + 1},0)`);
      const written = performance.now();
      await appendFile(log, crashing);
      const sent = performance.now();
      await sqs.send(new SendMessageCommand({ QueueUrl: stack.eventsQueueUrl, MessageBody: JSON.stringify({ v: 1, serverId: server.id, reason: `bench round ${round}`, source: 'bench' }) }));
      for (;;) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue, WaitTimeSeconds: 20, MaxNumberOfMessages: 1 }));
        const message = Messages[0];
        if (!message) throw new Error(`round ${round}: no diagnosis published within 20 s`);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queue, ReceiptHandle: message.ReceiptHandle! }));
        if ((JSON.parse(message.Body!) as { reason?: string }).reason?.includes(`unknown-block(${round + 1},0)`)) break;
      }
      const arrived = performance.now();
      fromEvent.push(arrived - sent);
      fromWrite.push(arrived - written);
    }
    // The whole path: nothing but the panic written; the agent's follower sends the event.
    const followed = stack.demoServers.filter((s) => s.projectId === 'demo');
    await new Promise((resolve) => setTimeout(resolve, 11_000)); // the sender's quiet time after the rounds above
    const { QueueUrl: all } = await sqs.send(new CreateQueueCommand({ QueueName: 'bench-diagnoses-all' }));
    const { Attributes: allAttributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: all, AttributeNames: ['QueueArn'] }));
    await sns.send(new SubscribeCommand({ TopicArn: stack.diagnosesTopicArn, Protocol: 'sqs', Endpoint: allAttributes!.QueueArn!, Attributes: { RawMessageDelivery: 'true', FilterPolicy: JSON.stringify({ category: ['kernel-panic'] }) } }));
    const fromPanic: number[] = [];
    for (let round = 0; round < FOLLOWER_ROUNDS; round++) {
      const target = followed[round % followed.length]!;
      const marker = `unknown-block(${100 + round},0)`;
      const started = performance.now();
      await appendFile(join(stack.instancesDir, target.id, 'console.log'), boot.replaceAll('unknown-block(0,0)', marker));
      for (;;) {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: all, WaitTimeSeconds: 20, MaxNumberOfMessages: 1 }));
        const message = Messages[0];
        if (!message) throw new Error(`follower round ${round}: no diagnosis published within 20 s`);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: all, ReceiptHandle: message.ReceiptHandle! }));
        if ((JSON.parse(message.Body!) as { reason?: string }).reason?.includes(marker)) break;
      }
      fromPanic.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, FOLLOWER_SPACING_MS - (performance.now() - started))));
    }
    return {
      rounds: ROUNDS, eventToPublishedMs: summarize(fromEvent), logWriteToPublishedMs: summarize(fromWrite),
      followerRounds: FOLLOWER_ROUNDS, panicWrittenToPublishedMs: summarize(fromPanic),
    };
  } finally {
    sqs.destroy();
    sns.destroy();
    await stack.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}
