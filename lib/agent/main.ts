#!/usr/bin/env -S node --max-semi-space-size=2
import { Command } from 'commander';
import { createLogger } from '../logger.ts';
import { readAgentConfig } from './config.ts';
import { startAgent, AGENT_VERSION } from './agent.ts';

const program = new Command('vmconsole-agent')
  .description('Serve console requests for the servers on this compute host (configuration: VMCONSOLE_* environment variables, see README)')
  .version(AGENT_VERSION)
  .option('--host <name>', 'this host name (VMCONSOLE_HOST)')
  .option('--driver <libvirt|files>', 'hypervisor driver (VMCONSOLE_DRIVER)')
  .option('--log-roots <dirs>', 'colon-separated directories logs may be read from (VMCONSOLE_LOG_ROOTS)')
  .option('--instances-dir <dir>', 'instances directory (VMCONSOLE_INSTANCES_DIR)')
  .parse();

const flags = program.opts<{ host?: string; driver?: string; logRoots?: string; instancesDir?: string }>();
const env = {
  ...process.env,
  ...(flags.host && { VMCONSOLE_HOST: flags.host }),
  ...(flags.driver && { VMCONSOLE_DRIVER: flags.driver }),
  ...(flags.logRoots && { VMCONSOLE_LOG_ROOTS: flags.logRoots }),
  ...(flags.instancesDir && { VMCONSOLE_INSTANCES_DIR: flags.instancesDir }),
};

const logger = createLogger('vmconsole-agent');
try {
  const agent = await startAgent(readAgentConfig(env), logger, env);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    agent.stop().then(() => process.exit(0), (err) => {
      logger.error('stop failed', { err });
      process.exit(1);
    });
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
} catch (err) {
  logger.error('agent failed to start', { err: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
