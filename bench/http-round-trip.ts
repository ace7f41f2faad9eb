import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack } from '../lib/local/local-stack.ts';
import { load, type RoundTripRow } from './queue-round-trip.ts';

/** The same console request through serverless-offline's HTTP API, for the record. */
export async function benchHttpRoundTrip(plan: Array<[number, number]> = [[1, 200], [8, 500]]): Promise<RoundTripRow[]> {
  const workDir = await mkdtemp(join(tmpdir(), 'vmconsole-bench-http-'));
  const stack = await startLocalStack({ workDir });
  try {
    const server = stack.demoServers[0];
    const call = async () => {
      const res = await fetch(`${stack.url}/v2.1/servers/${server.id}/action`, {
        method: 'POST',
        headers: { 'X-Auth-Token': 'demo:demo', 'Content-Type': 'application/json' },
        body: '{"os-getConsoleOutput": {}}',
      });
      const body = (await res.json()) as { output?: string };
      return res.status === 200 && typeof body.output === 'string' && body.output.includes('Kernel panic');
    };
    await load(50, 4, call);
    const rows: RoundTripRow[] = [];
    for (const [concurrency, requests] of plan) {
      rows.push({ path: 'HTTP (serverless-offline) -> SQS -> agent', concurrency, requests, ...(await load(requests, concurrency, call)) });
    }
    return rows;
  } finally {
    await stack.stop();
    await rm(workDir, { recursive: true, force: true });
  }
}
