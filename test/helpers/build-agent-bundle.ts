import { buildAgent } from '../../scripts/build-agent.ts';

/**
 * vitest global setup: tests start agents with AGENT_COMMAND, which runs the bundle; build it once
 * per run so no test runs a stale agent.
 */
export default async function setup(): Promise<void> {
  await buildAgent();
}
