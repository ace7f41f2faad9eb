import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The installed entry point (package.json `bin`): checks the Node version, then loads the bundle. */
export const AGENT_BIN = fileURLToPath(new URL('../../bin/vmconsole-agent.cjs', import.meta.url));

/**
 * The node flags the agent runs with, read from the bin's shebang so there is one place to change
 * them (they keep the agent under 100 MiB RSS at 64 requests in flight; README "Agent memory").
 */
export const AGENT_NODE_FLAGS: readonly string[] = /^#!.*\bnode\b(.*)$/m.exec(readFileSync(AGENT_BIN, 'utf8'))![1]!.trim().split(/\s+/).filter(Boolean);

/**
 * How everything in this repository starts an agent: `npm run agent`, the local stack, tests and
 * the bench. The bundle must be built first (`npm run build`; vitest's global setup does it).
 */
export const AGENT_COMMAND = [process.execPath, ...AGENT_NODE_FLAGS, AGENT_BIN] as const;
