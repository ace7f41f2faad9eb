import { SQSClient } from '@aws-sdk/client-sqs';
import { awsClientOptions } from '../aws-client-options.ts';

export function createSqsClient(env: NodeJS.ProcessEnv = process.env): SQSClient {
  return new SQSClient(awsClientOptions(env.VMCONSOLE_SQS_ENDPOINT || undefined, env));
}
