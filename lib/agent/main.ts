import { Command } from 'commander';
import { AGENT_SERVICE, createLogger } from '../logger.ts';
import { AgentConfigError, describeAgentVariables, readAgentConfig, type AgentConfig } from './config.ts';
import { startAgent, AGENT_VERSION } from './agent.ts';
import { checkAgent, formatCheck } from './check-agent.ts';
import { enrolHost } from './enrol-host.ts';
import { EXIT_CONFIG, EXIT_FAILED } from './exit-codes.ts';

const program = new Command('vmconsole-agent')
  .description('Serve console requests for the servers on this compute host. Configured only by the environment variables below.')
  .version(AGENT_VERSION, '-V, --version')
  .option('--check', 'check the configuration, DynamoDB, SQS, the hypervisor and the log roots, print one line per check, exit non-zero on a problem')
  .option('--enrol', 'enrol this host (operator credentials): create its request queue and DLQ, tagged with VMCONSOLE_QUEUE_TAGS (key=value,...), then exit')
  .addHelpText('after', `\nEnvironment (systemd: EnvironmentFile=/etc/vmconsole/agent.env):\n${describeAgentVariables()}\n`)
  .parse();

const env = process.env;
const { check = false, enrol = false } = program.opts<{ check?: boolean; enrol?: boolean }>();
const config = configOrExit(env, check);
if (enrol) {
  try {
    const { queueUrl, dlqUrl } = await enrolHost(env, config);
    console.log(`enrolled ${config.host}: queue ${queueUrl}, dead-letter queue ${dlqUrl}`);
    process.exit(0);
  } catch (err) {
    console.error(`vmconsole-agent: enrolment failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EXIT_FAILED);
  }
}
if (check) {
  console.log(`ok   config: host ${config.host}, driver ${config.driver.kind}, table ${config.tableName}`);
  const results = await checkAgent(config, env);
  for (const result of results) console.log(formatCheck(result));
  process.exit(results.every((r) => r.ok) ? 0 : EXIT_FAILED);
}

const logger = createLogger(AGENT_SERVICE);
try {
  const agent = await startAgent(config, logger, env);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    agent.stop().then(() => process.exit(0), (err) => {
      logger.error('stop failed', { err });
      process.exit(EXIT_FAILED);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
} catch (err) {
  logger.error('agent failed to start', { err: err instanceof Error ? err.message : String(err) });
  process.exit(EXIT_FAILED);
}

/** A bad configuration is the operator's to fix: one plain line per problem, naming the variable. */
function configOrExit(env: NodeJS.ProcessEnv, checking: boolean): AgentConfig {
  try {
    return readAgentConfig(env);
  } catch (err) {
    if (!(err instanceof AgentConfigError)) throw err;
    for (const problem of err.problems) console.error(checking ? `FAIL config: ${problem}` : `vmconsole-agent: ${problem}`);
    if (!checking) console.error('vmconsole-agent: see vmconsole-agent --help for every variable');
    process.exit(EXIT_CONFIG);
  }
}
