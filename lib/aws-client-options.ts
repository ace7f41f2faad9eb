import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** Client options shared by vmconsole's AWS clients: local endpoints, fast failure, keep-alive. */
export function awsClientOptions(endpoint: string | undefined, env: NodeJS.ProcessEnv) {
  const local = Boolean(endpoint);
  return {
    region: env.AWS_REGION || 'us-east-1',
    ...(local && { endpoint, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID || 'local', secretAccessKey: env.AWS_SECRET_ACCESS_KEY || 'local' } }),
    // A dead endpoint must surface within seconds (callers answer 503, not hang), yet a busy event
    // loop must not mistake a slow connect for an outage (1 s gave false 503s under bursts).
    maxAttempts: 2,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 3_000,
      httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 256 }),
    }),
  };
}
