/**
 * The agent's exit codes; deploy/vmconsole-agent.service stops restarting on EXIT_CONFIG, because
 * a bad environment file or Node version does not fix itself. bin/vmconsole-agent.cjs repeats 78.
 */
export const EXIT_FAILED = 1;
/** sysexits.h EX_CONFIG: the configuration or the runtime is unusable. */
export const EXIT_CONFIG = 78;
