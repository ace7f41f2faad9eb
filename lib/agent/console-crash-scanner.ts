import type { ConsoleConsumer } from '../console/follower-pool.ts';
import { FirstStageScanner } from '../diagnostics/first-stage.ts';
import type { AgentCrashEvent } from './crash-events.ts';
import type { ConsoleConsumerFactory } from './follow-consoles.ts';

/**
 * The console consumer crash diagnostics plugs into the agent's followers: each console's new
 * output goes through the analyser's cheap first stage (lib/diagnostics/first-stage.ts, which never
 * misses what the full rules would call a problem), and a possible crash becomes an event on the
 * events queue. The diagnose function then reads the console and decides: the first stage may say
 * yes for noise, which the analyser calls healthy. The sender sends one event per server within its
 * quiet time, so a console printing a trace of 60 lines costs one event.
 */
export function consoleCrashScanner(sender: { send(event: AgentCrashEvent): void }, now: () => number = Date.now): ConsoleConsumerFactory {
  return (server) => {
    let scanner = new FirstStageScanner();
    const consumer: ConsoleConsumer = {
      chunk(chunk) {
        if (scanner.scan(chunk)) sender.send({ serverId: server.id, reason: 'a crash signature appeared on the console', source: 'agent-console', at: now() });
      },
      reset() {
        // A new boot: a keyword split across the old log's end and the new one's start is no keyword.
        scanner = new FirstStageScanner();
      },
    };
    return consumer;
  };
}
