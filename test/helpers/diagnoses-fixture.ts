import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { beforeAll, afterAll } from 'vitest';
import { awsClientOptions } from '../../lib/aws-client-options.ts';
import { ensureDiagnosticsResources, type DiagnosticsResources } from '../../lib/diagnostics-service/local-resources.ts';
import { writeDemoInstances } from '../../lib/local/demo-servers.ts';
import { useAgentOnLocalAws, type AgentOnAws } from './suite-setup.ts';
import type { LocalAws } from './aws-local.ts';

export interface DiagnosesRig {
  agent: AgentOnAws<LocalAws>;
  /** The agent's environment plus the diagnostics settings (table, topic). */
  env: Record<string, string>;
  resources: DiagnosticsResources;
  sns: SNSClient;
  /** Subscribe a fresh queue to the topic (raw delivery) with this filter policy. */
  subscribe(filterPolicy?: Record<string, unknown>): Promise<string>;
}

/**
 * A real agent (files driver) over the demo servers (lib/local/demo-servers.ts: web-1 ends in a
 * real kernel panic; ops-bastion is project ops's), on a private fauxqs + dynalite, with the
 * events queue, the diagnoses topic and table created as the local stack creates them.
 */
export function useDiagnosesRig(host = `diag-${randomUUID().slice(0, 6)}`): DiagnosesRig {
  const agent = useAgentOnLocalAws({ host, prepareInstances: (dir) => writeDemoInstances(dir) });
  const rig = {} as DiagnosesRig;
  let dynamodb: DynamoDBClient | undefined;
  beforeAll(async () => {
    const { aws } = agent;
    const sns = new SNSClient(awsClientOptions(aws.sqsEndpoint, aws.env));
    dynamodb = new DynamoDBClient(awsClientOptions(aws.dynamodbEndpoint, aws.env));
    const stage = `t${randomUUID().slice(0, 6)}`;
    const resources = await ensureDiagnosticsResources({ sqs: aws.sqs, sns, dynamodb }, { service: 'vmconsole', stage, visibilityTimeoutS: 2 });
    Object.assign(rig, {
      agent,
      sns,
      resources,
      env: { ...aws.env, VMCONSOLE_DIAGNOSES_TABLE: resources.tableName, VMCONSOLE_DIAGNOSES_TOPIC_ARN: resources.topicArn },
      subscribe: (filterPolicy?: Record<string, unknown>) => subscribeQueue(aws.sqs, sns, resources.topicArn, filterPolicy),
    });
  }, 60_000);
  afterAll(() => {
    rig.sns?.destroy();
    dynamodb?.destroy();
  });
  return rig;
}

export async function subscribeQueue(sqs: SQSClient, sns: SNSClient, topicArn: string, filterPolicy?: Record<string, unknown>): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `diag-sub-${randomUUID().slice(0, 8)}` }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  await sns.send(new SubscribeCommand({
    TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn!,
    Attributes: { RawMessageDelivery: 'true', ...(filterPolicy && { FilterPolicy: JSON.stringify(filterPolicy) }) },
  }));
  return QueueUrl!;
}

/** Every message on `queueUrl` until it stays empty for `quietMs` (deleted as read). */
export async function drain(sqs: SQSClient, queueUrl: string, { quietMs = 1_000, timeoutMs = 15_000, atLeast = 0 } = {}): Promise<Array<{ body: any; attributes: Record<string, string> }>> {
  const out: Array<{ body: any; attributes: Record<string, string> }> = [];
  const until = Date.now() + timeoutMs;
  let quietSince = Date.now();
  while (Date.now() < until) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, MessageAttributeNames: ['All'] }));
    for (const m of Messages) {
      out.push({ body: JSON.parse(m.Body!), attributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? ''])) });
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    }
    if (Messages.length > 0) quietSince = Date.now();
    else if (out.length >= atLeast && Date.now() - quietSince >= quietMs) break;
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return out;
}
