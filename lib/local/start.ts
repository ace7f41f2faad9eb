import { startLocalStack } from './local-stack.ts';

// `npm start`: the whole system on this machine, until Ctrl-C.
const port = Number(process.env.PORT ?? 4000);
console.log('vmconsole: starting embedded SQS (fauxqs), DynamoDB (dynalite), a host agent and the HTTP API (osls offline)...');
const stack = await startLocalStack({ httpPort: port });
const server = stack.demoServers[0];
console.log(`
  SQS (fauxqs)        ${stack.aws.sqsEndpoint}
  DynamoDB (dynalite) ${stack.aws.dynamodbEndpoint}
  agent               host ${stack.host}, files driver over ${stack.instancesDir}
  HTTP API            ${stack.url}/v2.1   (Nova compute API)
  logs                ${stack.workDir}/agent.log, ${stack.workDir}/offline.log

  AUTH MODE IS noauth: X-Auth-Token "user:project" is trusted as is (user "admin" is admin). Local use only.

  Demo servers: ${stack.demoServers.map((s) => `${s.name} (${s.id}, project ${s.projectId})`).join(', ')}

  Try:
    curl -s -X POST ${stack.url}/v2.1/servers/${server.id}/action \\
      -H 'X-Auth-Token: demo:demo' -H 'Content-Type: application/json' \\
      -d '{"os-getConsoleOutput": {"length": 20}}'
    openstack --os-auth-type admin_token --os-token demo:demo --os-endpoint ${stack.url}/v2.1 console log show --lines 20 ${server.name}

  Ctrl-C stops everything.`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  console.log('\nvmconsole: stopping...');
  await stack.stop();
  console.log('vmconsole: stopped.');
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
