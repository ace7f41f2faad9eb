/**
 * The follower -> first stage -> crash event path: an agent (in process, files driver) with
 * VMCONSOLE_FOLLOW=on and VMCONSOLE_EVENTS_QUEUE_URL follows its consoles into the analyser's first
 * stage; a kernel panic written to a guest's log becomes one event, which the diagnose function
 * turns into the diagnosis of that panic.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/diagnose-console.ts';
import { startAgent } from '../../lib/agent/agent.ts';
import { readAgentConfig } from '../../lib/agent/config.ts';
import { createDiagnoseDependencies } from '../../lib/diagnostics-service/wiring.ts';
import { lambdaContext, sqsEvent } from '../helpers/automation-fixture.ts';
import { useDiagnosesRig } from '../helpers/diagnoses-fixture.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { writeNamedInstances } from '../helpers/reliability-fixture.ts';
import { eventually } from '../helpers/wait.ts';
import { enrolTestHost, filesDriverEnv } from '../helpers/agent-process.ts';

const BOOT_LOG = new URL('../../fixtures/boot-logs/clean-boot-panic.log', import.meta.url);

describe('console crash events: the agent\'s followers through the first stage to the events queue', () => {
  const rig = useDiagnosesRig();

  it('a panic written to a followed console: one agent-console event, diagnosed as that panic; ordinary output sends none', async () => {
    const { aws } = rig.agent;
    const work = await mkdtemp(join(tmpdir(), 'vmconsole-console-events-'));
    const instancesDir = join(work, 'instances');
    const [quiet, crashing] = await writeNamedInstances(instancesDir, 2, 'follow', 500);
    const config = readAgentConfig({
      ...aws.env, VMCONSOLE_HOST: 'follow-host', ...filesDriverEnv(instancesDir),
      VMCONSOLE_HEARTBEAT_MS: '500', VMCONSOLE_FOLLOW: 'on', VMCONSOLE_EVENTS_QUEUE_URL: rig.resources.eventsQueueUrl,
    });
    const logger = recordingLogger();
    await enrolTestHost(aws.env, 'follow-host');
    const agent = await startAgent(config, logger, aws.env);
    try {
      await eventually(() => aws.directory.getServer(crashing!.id), (s) => s !== undefined, 10_000);
      // Followers start with the first listing and read only what is written after they open the logs.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await appendFile(join(instancesDir, quiet!.id, 'console.log'), 'Started Daily apt upgrade.\nweb login: \n');
      await appendFile(join(instancesDir, crashing!.id, 'console.log'), await readFile(BOOT_LOG, 'utf8'));

      const received = await eventually(async () => {
        const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: rig.resources.eventsQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60 }));
        return Messages;
      }, (m) => m.length > 0, 15_000);
      // Anything else the queue holds after a quiet second: nothing (one event per crash, none for the quiet console).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const { Messages: more = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: rig.resources.eventsQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      const events = [...received, ...more].map((m) => JSON.parse(m.Body!));
      expect(events).toEqual([{ v: 1, serverId: crashing!.id, reason: 'a crash signature appeared on the console', source: 'agent-console', at: expect.any(Number), host: 'follow-host' }]);

      const deps = createDiagnoseDependencies(rig.env, { logger: recordingLogger() });
      expect((await createHandler(deps)(sqsEvent(received[0]!.Body!), lambdaContext())).batchItemFailures).toEqual([]);
      const [record] = (await deps.store.list(crashing!.id, { limit: 5 })).records;
      expect(record).toMatchObject({ projectId: 'follow', trigger: { source: 'agent-console', host: 'follow-host' }, diagnosis: { category: 'kernel-panic' } });
    } finally {
      await agent.stop();
      await rm(work, { recursive: true, force: true });
    }
  }, 60_000);
});
