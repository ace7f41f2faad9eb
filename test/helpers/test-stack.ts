import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../lib/local/local-stack.ts';

export interface TestStack {
  stack: LocalStack;
  /** The Nova endpoint the clients are given. */
  endpoint: string;
  startMs: number;
  stop(): Promise<void>;
}

/**
 * The `npm start` stack (fauxqs, dynalite, an agent process, serverless-offline) in a work dir of its own (parallel files must not share logs or instance
 * dirs). A failed start's error carries the failing child's log tail, so the dir can go.
 */
export async function startTestStack(name: string, options: Omit<LocalStackOptions, 'workDir' | 'claim'> = {}): Promise<TestStack> {
  const workDir = await mkdtemp(join(tmpdir(), `vmconsole-${name}-`));
  const started = Date.now();
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ httpPort: 0, ...options, workDir });
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
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
