import { readFile } from 'node:fs/promises';
import { SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { awsClientOptions } from '../../lib/aws-client-options.ts';
import { createSqsClient } from '../../lib/transport/sqs-client.ts';
import { drain, subscribeQueue } from '../helpers/diagnoses-fixture.ts';
import { useLocalStack } from '../helpers/suite-setup.ts';

describe('crash diagnostics on the npm start stack', () => {
  const rel = useLocalStack('diagnoses');

  it('an event on the events queue reaches the diagnose function through the local poller: published to a filtered subscription, listed by the API; stack.env names the queue and topic', async () => {
    const { stack } = rel;
    const env = await readFile(stack.envFile, 'utf8');
    expect(env).toContain(`VMCONSOLE_EVENTS_QUEUE_URL=${stack.eventsQueueUrl}\n`);
    expect(env).toContain(`VMCONSOLE_DIAGNOSES_TOPIC_ARN=${stack.diagnosesTopicArn}\n`);

    const sqs = createSqsClient(stack.env);
    const sns = new SNSClient(awsClientOptions(stack.aws.sqsEndpoint, stack.env));
    try {
      const server = stack.demoServers[0];
      const panics = await subscribeQueue(sqs, sns, stack.diagnosesTopicArn, { category: ['kernel-panic'], projectId: ['demo'] });
      await sqs.send(new SendMessageCommand({ QueueUrl: stack.eventsQueueUrl, MessageBody: JSON.stringify({ v: 1, serverId: server.id, reason: 'local stack test', source: 'vitest' }) }));
      const [message] = await drain(sqs, panics, { atLeast: 1, timeoutMs: 30_000 });
      expect(message!.attributes).toMatchObject({ category: 'kernel-panic', severity: 'critical' });

      const token = { 'X-Auth-Token': 'demo:demo' };
      const listed = await fetch(`${stack.url}/vmconsole/v1/servers/${server.id}/diagnoses`, { headers: token });
      expect(listed.status).toBe(200);
      const { diagnoses } = await listed.json() as { diagnoses: Array<{ id: string; published: boolean }> };
      expect(diagnoses).toMatchObject([{ id: message!.body.id, published: true }]);

      const again = await fetch(`${stack.url}/vmconsole/v1/servers/${server.id}/diagnose`, { method: 'POST', headers: token });
      expect(again.status).toBe(200);
      expect((await again.json() as { diagnosis: { id: string } }).diagnosis.id).toBe(message!.body.id);

      const hidden = await fetch(`${stack.url}/vmconsole/v1/servers/${stack.demoServers[3].id}/diagnoses`, { headers: token });
      expect(hidden.status).toBe(404);
      expect(await hidden.json()).toMatchObject({ error: { code: 'ServerNotFound' } });
    } finally {
      sqs.destroy();
      sns.destroy();
    }
  }, 60_000);
});
