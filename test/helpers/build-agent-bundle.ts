import { buildAgent } from '../../scripts/build-agent.ts';
import { buildCli } from '../../scripts/build-cli.ts';

/**
 * vitest global setup: tests start agents with AGENT_COMMAND, which runs the bundle, and the CLI
 * tests run bin/vmconsole.cjs, which runs its own; build both once per run so no test runs a stale one.
 */
export default async function setup(): Promise<void> {
  await Promise.all([buildAgent(), buildCli()]);
}
