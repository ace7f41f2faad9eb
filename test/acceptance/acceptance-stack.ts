import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../lib/local/local-stack.ts';

export interface AcceptanceStack {
  stack: LocalStack;
  /** The Nova endpoint the clients are given. */
  endpoint: string;
  startMs: number;
  stop(): Promise<void>;
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '(no log)');
  return text.split('\n').slice(-30).join('\n');
}

/**
 * The `npm start` stack in a work dir of its own (parallel files must not share logs or instance
 * dirs). When it cannot start, the children's logs are put into the error, since the work dir
 * is removed afterwards.
 */
export async function startAcceptanceStack(name: string, options: Omit<LocalStackOptions, 'workDir'> = {}): Promise<AcceptanceStack> {
  const workDir = await mkdtemp(join(tmpdir(), `vmconsole-${name}-`));
  const started = Date.now();
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ httpPort: 0, ...options, workDir });
  } catch (err) {
    const logs = `agent.log:\n${await tail(join(workDir, 'agent.log'))}\noffline.log:\n${await tail(join(workDir, 'offline.log'))}`;
    await rm(workDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
  const startMs = Date.now() - started;
  console.info(`${name}: local stack up in ${startMs} ms`);
  return {
    stack,
    endpoint: `${stack.url}/v2.1`,
    startMs,
    async stop() {
      await stack.stop();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}
