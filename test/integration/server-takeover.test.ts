/**
 * The attack, reproduced with two real agent processes (files driver) on fauxqs + dynalite:
 * a second host lists another project's server UUID, with a console log of its own. Before, the
 * server record flipped to whichever host synced last and a quarter of the reads served the forged
 * output. Now the registrar refuses a claim on a server a live host still runs: every read is the
 * real console, even after the real host missed beats, the rogue host's log names the conflict
 * once, and a real migration (the first host stops listing the server) still moves it.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getConsoleOutput } from '../../lib/console-output/get-console-output.ts';
import { Directory } from '../../lib/directory/directory.ts';
import { Requester } from '../../lib/transport/requester.ts';
import { kill, startAgentProcess } from '../helpers/agent-process.ts';
import { novaTail, tenant, writeNamedInstances, type NamedServer } from '../helpers/reliability-fixture.ts';
import { useLocalAws } from '../helpers/suite-setup.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const aws = useLocalAws();
const HEARTBEAT_MS = 300;
let work: string;
let victim: NamedServer;
let rogueDir: string;
const agents: ChildProcess[] = [];
let requester: Requester;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'vmconsole-takeover-'));
  victim = (await writeNamedInstances(join(work, 'real'), 1, 'victim-project'))[0]!;
  agents.push(await startAgentProcess(aws.env, { host: 'real-host', directory: aws.directory, instancesDir: join(work, 'real'), logFile: join(work, 'real.log'), heartbeatMs: HEARTBEAT_MS }));
  // The rogue host lists the victim's UUID, in the victim's project, with a console of its own.
  rogueDir = join(work, 'rogue');
  await mkdir(join(rogueDir, victim.id), { recursive: true });
  await writeFile(join(rogueDir, victim.id, 'instance.json'), JSON.stringify({ name: 'innocent', projectId: 'victim-project', userId: 'victim-project-user' }));
  await writeFile(join(rogueDir, victim.id, 'console.log'), 'FORGED: please enter your password\n');
  agents.push(await startAgentProcess(aws.env, { host: 'rogue-host', directory: aws.directory, instancesDir: rogueDir, logFile: join(work, 'rogue.log'), heartbeatMs: HEARTBEAT_MS }));
  requester = new Requester({ sqs: aws.sqs, replyQueuePrefix: aws.env.VMCONSOLE_REPLY_QUEUE_PREFIX!, hostQueuePrefix: aws.env.VMCONSOLE_HOST_QUEUE_PREFIX! });
}, 90_000);

afterAll(async () => {
  await requester?.close();
  for (const agent of agents) await kill(agent);
  if (work) await rm(work, { recursive: true, force: true });
});

const read = () => getConsoleOutput({
  principal: tenant('victim-project'), serverId: victim.id, length: 2, requestId: `req-takeover-${Date.now()}`, deadline: Date.now() + 5_000,
}, { directory: new Directory(aws.ddb, aws.env.VMCONSOLE_TABLE!), requester });

it('a second host claiming a live host\'s server never makes a read serve its output, and the conflict is logged once', async () => {
  const outputs: string[] = [];
  // Over many syncs of both agents (each syncs at every 300 ms heartbeat).
  for (let i = 0; i < 60; i++) {
    outputs.push(await read());
    await sleep(50);
  }
  const forged = outputs.filter((o) => o.includes('FORGED')).length;
  console.log(`integration/server-takeover: ${forged} of ${outputs.length} reads served the rogue host's output`);
  expect(forged).toBe(0);
  expect(new Set(outputs)).toEqual(new Set([novaTail(victim.log, 2)]));
  expect(await aws.directory.getServer(victim.id)).toMatchObject({ host: 'real-host' });
  const conflicts = (await readFile(join(work, 'rogue.log'), 'utf8')).split('\n').filter((l) => l.includes('server claimed by two live hosts'));
  expect(conflicts).toHaveLength(1);
  expect(JSON.parse(conflicts[0]!)).toMatchObject({ level: 'WARN', server: victim.id, host: 'real-host', claimant: 'rogue-host' });

  // The real host misses beats (frozen 3 s, well past its 0.9 s "down"): the rogue, syncing all
  // along, still does not get the server.
  const real = agents[0]!;
  real.kill('SIGSTOP');
  await sleep(3_000);
  real.kill('SIGCONT');
  const resumedAt = Date.now();
  await waitFor(async () => ((await aws.directory.getHost('real-host'))?.heartbeatAt ?? 0) > resumedAt, 10_000, 'the real host to beat again');
  expect(await aws.directory.getServer(victim.id)).toMatchObject({ host: 'real-host' });
  expect(await read()).toBe(novaTail(victim.log, 2));
}, 60_000);

it('a live migration still moves the server: once its host stops listing it, the host that has it now serves it', async () => {
  // The migration's end on the source: the guest is gone from the first host.
  await rm(join(work, 'real', victim.id), { recursive: true });
  await waitFor(async () => (await aws.directory.getServer(victim.id))?.host === 'rogue-host', 10_000, 'the server to move to the host that runs it now');
  expect(await read()).toBe('FORGED: please enter your password\n');
}, 30_000);
