import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/diagnose-console.ts';
import { readAgentConfig } from '../../lib/agent/config.ts';
import { CrashEventSender } from '../../lib/agent/crash-events.ts';
import { createDiagnoseDependencies } from '../../lib/diagnostics-service/wiring.ts';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { lambdaContext, sqsEvent } from '../helpers/automation-fixture.ts';
import { useDiagnosesRig } from '../helpers/diagnoses-fixture.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { eventually } from '../helpers/wait.ts';

const [web1] = DEMO_SERVERS;

describe('the agent\'s crash events: a crash the hypervisor reports becomes an event the diagnose function takes', () => {
  const rig = useDiagnosesRig();

  it('VMCONSOLE_EVENTS_QUEUE_URL is optional (unset: no events) and must be a queue URL', () => {
    const base = { VMCONSOLE_HOST: 'h1', VMCONSOLE_TABLE: 'vmconsole-t-directory', VMCONSOLE_DRIVER: 'files' };
    expect(readAgentConfig(base).eventsQueueUrl).toBeUndefined();
    const url = 'https://sqs.us-east-1.amazonaws.com/123456789012/vmconsole-prod-events';
    expect(readAgentConfig({ ...base, VMCONSOLE_EVENTS_QUEUE_URL: url }).eventsQueueUrl).toBe(url);
    expect(() => readAgentConfig({ ...base, VMCONSOLE_EVENTS_QUEUE_URL: 'not a url' })).toThrow(/VMCONSOLE_EVENTS_QUEUE_URL must be an SQS queue URL/);
  });

  it('libvirt\'s "Crashed Panicked" then "Stopped Crashed" for one guest: one event, diagnosed as the kernel panic, naming the agent\'s host', async () => {
    const { aws } = rig.agent;
    const logger = recordingLogger();
    const sender = new CrashEventSender({ sqs: aws.sqs, queueUrl: rig.resources.eventsQueueUrl, host: rig.agent.host, logger });
    const at = Date.now();
    const server = { id: web1.id, instanceName: web1.id };
    sender.onDriverEvent({ type: 'crashed', server, reason: 'Crashed Panicked', at });
    sender.onDriverEvent({ type: 'crashed', server, reason: 'Stopped Crashed', at: at + 50 });
    sender.onDriverEvent({ type: 'stopped', server, reason: 'Stopped Destroyed', at: at + 100 });

    const messages = await eventually(async () => {
      const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: rig.resources.eventsQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30 }));
      return Messages;
    }, (m) => m.length > 0, 10_000);
    expect(messages).toHaveLength(1);
    const body = JSON.parse(messages[0]!.Body!);
    expect(body).toEqual({ v: 1, serverId: web1.id, reason: 'hypervisor reported Crashed Panicked', source: 'agent-lifecycle', at, host: rig.agent.host });

    const deps = createDiagnoseDependencies(rig.env, { logger: recordingLogger() });
    const response = await createHandler(deps)(sqsEvent(messages[0]!.Body!), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    const [record] = (await deps.store.list(web1.id, { limit: 5 })).records;
    expect(record).toMatchObject({ trigger: { source: 'agent-lifecycle', host: rig.agent.host, at }, diagnosis: { category: 'kernel-panic' } });
  });

  it('console events within the quiet time are not dropped: the newest is sent once at its end, so a panic printed after a warning is read', async () => {
    const { aws } = rig.agent;
    const QueueUrl = rig.resources.eventsQueueUrl;
    // Whatever an earlier test left on the queue is not this test's.
    await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 60 }));
    const sender = new CrashEventSender({ sqs: aws.sqs, queueUrl: QueueUrl, host: rig.agent.host, logger: recordingLogger(), quietMs: 300 });
    const at = Date.now();
    const consoleEvent = (ms: number) => ({ serverId: web1.id, reason: 'a crash signature appeared on the console', source: 'agent-console', at: at + ms });
    sender.send(consoleEvent(0));
    sender.send(consoleEvent(40));
    sender.send(consoleEvent(80));
    // A hypervisor repeating itself within the quiet time adds nothing.
    sender.onDriverEvent({ type: 'crashed', server: { id: web1.id, instanceName: web1.id }, reason: 'Stopped Crashed', at: at + 90 });
    const received: number[] = [];
    await eventually(async () => {
      const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }));
      for (const m of Messages) received.push((JSON.parse(m.Body!) as { at: number }).at);
      return received.length;
    }, (n) => n >= 2, 10_000);
    // One more long poll: nothing else arrives.
    const { Messages: more = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    expect([...received, ...more.map((m) => (JSON.parse(m.Body!) as { at: number }).at)].sort((a, b) => a - b)).toEqual([at, at + 80]);
    sender.close();
  });
});
