import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { claimStack } from './stack-lock.ts';

// `npm start`: the whole system on this machine, until Ctrl-C.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function portNumber(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('expected a TCP port, 1-65535');
  return port;
}

const program = new Command('npm start --')
  .description('Start vmconsole on this machine: embedded SQS (fauxqs) and DynamoDB (dynalite), a host agent serving demo servers, and the Nova API through serverless-offline. Ctrl-C stops everything.')
  .option('-p, --port <port>', 'HTTP API port (default: $PORT, else 4000)', portNumber)
  .option('--libvirt', 'also boot real demo guests under libvirt/QEMU (VNC and serial consoles; needs root and scripts/install-libvirt.sh)')
  .option('--work-dir <dir>', 'where the demo instances, logs and stack.env go', join(ROOT, '.vmconsole/demo'))
  .addHelpText('after', `
Environment:
  PORT                  HTTP API port when --port is not given (default 4000)
  POWERTOOLS_LOG_LEVEL  log level of the agent (default INFO) and the edge (default WARN)

Another agent joins the running stack with the environment it writes to <work-dir>/stack.env,
once its host is enrolled (its queue created):
  env $(cat .vmconsole/demo/stack.env) VMCONSOLE_HOST=lab-1 npm run agent -- --enrol
  env $(cat .vmconsole/demo/stack.env) VMCONSOLE_HOST=lab-1 VMCONSOLE_DRIVER=libvirt npm run agent`)
  .parse();
const flags = program.opts<{ port?: number; workDir: string; libvirt?: boolean }>();
let port = 4000;
try {
  port = flags.port ?? (process.env.PORT ? portNumber(process.env.PORT) : port);
} catch (err) {
  program.error(`error: PORT=${process.env.PORT}: ${(err as Error).message}`);
}

if (flags.libvirt) {
  const { libvirtUnavailableReason } = await import('./libvirt-daemons.ts');
  const reason = libvirtUnavailableReason();
  if (reason) {
    console.error(`vmconsole: cannot start with --libvirt: ${reason}. Run: sudo bash scripts/install-libvirt.sh, then sudo npm start -- --libvirt`);
    process.exit(1);
  }
}

let claim;
try {
  // Before loading the stack (seconds of imports): another stack here or a busy port is said at once.
  claim = await claimStack(resolve(flags.workDir), port);
} catch (err) {
  console.error(`vmconsole: cannot start: ${(err as Error).message}`);
  process.exit(1);
}

// Until the stack takes over, a signal still stops what has started (the watchdog does the rest).
let stopStack: (() => Promise<void>) | undefined;
/**
 * Booting the libvirt guests, once it holds the machine's libvirt: a signal meanwhile waits for it,
 * so the daemons and guests it starts are stopped too (while it only waits for the lock, exiting
 * frees the lock and leaves nothing behind).
 */
let booting: Promise<unknown> | undefined;
let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\nvmconsole: ${signal}, stopping...`);
  await booting?.catch(() => undefined);
  await stopStack?.();
  claim.release();
  console.log('vmconsole: stopped.');
  process.exit(0);
};
// SIGHUP: the terminal closed. Left to its default, Node would die without stopping the children.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));

console.log('vmconsole: starting embedded SQS (fauxqs), DynamoDB (dynalite), a host agent and the HTTP API (osls offline)...');
const { startLocalStack } = await import('./local-stack.ts');
let stack: Awaited<ReturnType<typeof startLocalStack>>;
try {
  stack = await startLocalStack({ claim });
} catch (err) {
  console.error(`vmconsole: cannot start: ${(err as Error).message}`);
  process.exit(1);
}
stopStack = stack.stop;
const server = stack.demoServers[0];
/** A path as the user can paste it from here. */
const shown = (path: string) => {
  const fromHere = relative(process.cwd(), path);
  return fromHere.startsWith('..') ? path : fromHere;
};
const nova = `openstack --os-auth-type admin_token --os-token demo:demo --os-endpoint ${stack.url}/v2.1`;
let guestsText = '';
if (flags.libvirt) {
  const { bootDemoGuests, DEMO_CLOUD } = await import('./demo-guest-agent.ts');
  try {
    const boot = bootDemoGuests(stack, (stop) => (stopStack = stop), () => (booting = boot));
    const booted = await boot;
    guestsText = `
  libvirt guests      ${booted.guests.map((g) => `${g.name} (${g.id})`).join(', ')}: project demo, host ${booted.host}, libvirt driver
                      (busybox shell on ttyS0; console logs in ${booted.logDir})

  Remote consoles of the libvirt guests (the shell answers ~10-60 s after start under TCG):
    export OS_CLIENT_CONFIG_FILE=${shown(booted.cloudsYaml)} OS_CLOUD=${DEMO_CLOUD}
    openstack console url show --novnc ${booted.guests[0]!.name}
    openstack console url show --serial ${booted.guests[0]!.name}
  Open the novnc URL in a browser; for the serial one open ${stack.relay.serial}/serial.html?token=<token>
  (or without the clouds.yaml: ${nova} console url show --novnc ${booted.guests[0]!.name})
`;
  } catch (err) {
    console.error(`vmconsole: cannot start the libvirt guests: ${(err as Error).message}`);
    // A signal's shutdown is already stopping everything.
    if (stopping) await new Promise(() => undefined);
    stopping = true;
    await stopStack();
    claim.release();
    process.exit(1);
  }
}
const envFile = shown(stack.envFile);
console.log(`
  SQS (fauxqs)        ${stack.aws.sqsEndpoint}
  DynamoDB (dynalite) ${stack.aws.dynamodbEndpoint}
  agent               host ${stack.host}, files driver over ${stack.instancesDir}
  HTTP API            ${stack.url}/v2.1   (Nova compute API)
  request queue       VMCONSOLE_REQUEST_QUEUE_URL=${stack.requestQueueUrl}
                      (queue-driven automation; reply queues under ${stack.clientReplyUrlPrefix})
  events queue        VMCONSOLE_EVENTS_QUEUE_URL=${stack.eventsQueueUrl}
                      (crash diagnostics: {"v":1,"serverId":"...","reason":"...","source":"..."} or CloudWatch alarms)
  diagnoses topic     VMCONSOLE_DIAGNOSES_TOPIC_ARN=${stack.diagnosesTopicArn}
                      (SNS on ${stack.aws.sqsEndpoint}; message attributes category, severity, projectId, serverId)
  vmconsole API       ${stack.url}/vmconsole/v1   (diagnoses, screenshots; docs/openapi.yaml)
  console relay       noVNC ${stack.relay.novnc}, SPICE ${stack.relay.spice}, serial ${stack.relay.serial}
                      (remote consoles; agents dial ${stack.relay.tunnel})
  logs                ${stack.workDir}/agent.log, ${stack.workDir}/offline.log, ${stack.workDir}/relay.log

  AUTH MODE IS noauth: X-Auth-Token "user:project" is trusted as is (user "admin" is admin). Local use only.

  Demo servers: ${stack.demoServers.map((s) => `${s.name} (${s.id}, project ${s.projectId})`).join(', ')}

  Try:
    curl -s -X POST ${stack.url}/v2.1/servers/${server.id}/action \\
      -H 'X-Auth-Token: demo:demo' -H 'Content-Type: application/json' \\
      -d '{"os-getConsoleOutput": {"length": 20}}'
    openstack --os-auth-type admin_token --os-token demo:demo --os-endpoint ${stack.url}/v2.1 console log show --lines 20 ${server.name}

  Remote consoles (the demo's files driver has none: Nova's "Unavailable console type"; npm start -- --libvirt boots guests that have them):
    ${nova} console url show --novnc ${server.name}

  Diagnose a crash: send an event, then read the diagnosis (web-1's log ends in a kernel panic):
    aws --endpoint-url ${stack.aws.sqsEndpoint} sqs send-message --queue-url ${stack.eventsQueueUrl} \\
      --message-body '{"v":1,"serverId":"${server.id}","reason":"trying it","source":"me"}'
    curl -s ${stack.url}/vmconsole/v1/servers/${server.id}/diagnoses -H 'X-Auth-Token: demo:demo'
    curl -s -X POST ${stack.url}/vmconsole/v1/servers/${server.id}/diagnose -H 'X-Auth-Token: demo:demo'

  The vmconsole CLI (README "The vmconsole CLI"):
    export VMCONSOLE_URL=${stack.url} VMCONSOLE_TOKEN=demo:demo
    npm run --silent vmconsole -- diagnose --server ${server.name}

  Collect the console logs of a whole project through the request queue:
    env $(cat ${envFile}) npm run --silent collect-console-logs -- --project demo --length 5 --token demo:demo

  Join another agent (e.g. a real libvirt host's) to this stack: enrol its host, then start it:
    env $(cat ${envFile}) VMCONSOLE_HOST=lab-1 npm run agent -- --enrol
    env $(cat ${envFile}) VMCONSOLE_HOST=lab-1 VMCONSOLE_DRIVER=libvirt npm run agent

${guestsText}
  Ctrl-C stops everything.`);
