import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/diagnose-console.ts';
import { createDocumentClient } from '../../lib/directory/dynamodb-client.ts';
import { DiagnosesStore } from '../../lib/diagnostics-service/diagnoses-store.ts';
import { createDiagnoseDependencies } from '../../lib/diagnostics-service/wiring.ts';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import { lambdaContext, sqsEvent } from '../helpers/automation-fixture.ts';
import { drain, useDiagnosesRig } from '../helpers/diagnoses-fixture.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';

const [web1, db1, batch7, opsBastion] = DEMO_SERVERS;
const event = (serverId: string, extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, serverId, reason: 'test says so', source: 'events-test', ...extra });
const fixture = (name: string) => readFile(new URL(`../fixtures/events/${name}`, import.meta.url), 'utf8');

describe('diagnose function: events in, diagnoses stored and published', () => {
  const rig = useDiagnosesRig();
  const setup = (env: Record<string, string> = {}) => {
    const logger = recordingLogger();
    const deps = createDiagnoseDependencies({ ...rig.env, ...env }, { logger });
    const store = new DiagnosesStore(createDocumentClient(rig.env), rig.resources.tableName, { retentionDays: 30 });
    return { handler: createHandler(deps), deps, store, logger };
  };

  it('an external event for a server whose log ends in a kernel panic: stored, and published with category and severity attributes a filter policy selects on', async () => {
    const panics = await rig.subscribe({ category: ['kernel-panic'] });
    const ooms = await rig.subscribe({ category: ['oom'] });
    const { handler, store } = setup();

    const response = await handler(sqsEvent(event(web1.id)), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);

    const { records } = await store.list(web1.id, { limit: 10 });
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record).toMatchObject({ serverId: web1.id, projectId: 'demo', serverName: 'web-1', published: true, trigger: { source: 'events-test', reason: 'test says so' } });
    expect(record!.diagnosis).toMatchObject({ category: 'kernel-panic', severity: 'critical' });
    expect(record!.diagnosis.reason).toMatch(/VFS: Unable to mount root fs/);

    const delivered = await drain(rig.agent.aws.sqs, panics, { atLeast: 1 });
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.attributes).toMatchObject({ category: 'kernel-panic', severity: 'critical', projectId: 'demo', serverId: web1.id });
    expect(delivered[0]!.body).toMatchObject({ type: 'vmconsole.diagnosis', id: record!.id, category: 'kernel-panic', serverId: web1.id });
    expect(delivered[0]!.body.diagnosis.evidence.lines[0].text).toMatch(/Kernel panic - not syncing/);
    expect(await drain(rig.agent.aws.sqs, ooms, { quietMs: 300 })).toEqual([]);
  });

  it('a storm of 1,000 events for one crash, in concurrent batches: one diagnosis stored, one published', async () => {
    const queue = await rig.subscribe({ serverId: [batch7.id] });
    const { handler, store } = setup();
    const batches = Array.from({ length: 100 }, (_, b) => sqsEvent(...Array.from({ length: 10 }, (_, i) => event(batch7.id, { reason: `storm ${b * 10 + i}` }))));
    // Ten invocations at a time, as Lambda scales out on a full queue.
    for (let i = 0; i < batches.length; i += 10) {
      const responses = await Promise.all(batches.slice(i, i + 10).map((e) => handler(e, lambdaContext())));
      expect(responses.flatMap((r) => r.batchItemFailures)).toEqual([]);
    }
    // And a second execution environment (no shared memory) for the same crash.
    const other = setup();
    expect((await other.handler(sqsEvent(event(batch7.id)), lambdaContext())).batchItemFailures).toEqual([]);

    expect((await store.list(batch7.id, { limit: 10 })).records).toHaveLength(1);
    expect(await drain(rig.agent.aws.sqs, queue, { atLeast: 1 })).toHaveLength(1);
  }, 120_000);

  it('an unknown server is dropped; an event cannot choose the project: the directory\'s owner is recorded', async () => {
    const { handler, store, logger } = setup();
    const unknown = randomUUID();
    const response = await handler(sqsEvent(event(unknown), event(opsBastion.id, { projectId: 'demo', host: 'someone-else' })), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    expect((await store.list(unknown, { limit: 10 })).records).toEqual([]);
    expect(logger.entries.some((l) => l.message === "event ignored" && JSON.stringify(l).includes(unknown))).toBe(true);
    const [record] = (await store.list(opsBastion.id, { limit: 10 })).records;
    expect(record).toMatchObject({ projectId: 'ops', trigger: { host: 'someone-else' } });
  });

  it('malformed messages fail their record (to the DLQ after the retries); the rest of the batch is done', async () => {
    const { handler } = setup();
    const e = sqsEvent('not json', JSON.stringify({ v: 1, serverId: '../etc', reason: 'x', source: 'y' }), JSON.stringify({ v: 2, serverId: db1.id }), event(opsBastion.id));
    const response = await handler(e, lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(e.Records.slice(0, 3).map((r) => r.messageId).sort());
  });

  it('a CloudWatch alarm naming the server in a ServerId dimension, in the SNS envelope and raw; an alarm back to OK is not an event', async () => {
    const { handler, store } = setup();
    const envelope = await fixture('cloudwatch-alarm-sns-envelope.json');
    const raw = await fixture('cloudwatch-alarm-raw.json');
    const ok = JSON.stringify({ ...JSON.parse(raw), NewStateValue: 'OK', Trigger: { Dimensions: [{ name: 'ServerId', value: db1.id }] } });
    const response = await handler(sqsEvent(envelope, raw, ok), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    const [record] = (await store.list(web1.id, { limit: 10 })).records;
    // web-1's panic was diagnosed by the first test: the alarm is the same crash.
    expect((await store.list(web1.id, { limit: 10 })).records).toHaveLength(1);
    expect(record!.diagnosis.category).toBe('kernel-panic');
    expect((await store.list(db1.id, { limit: 10 })).records.every((r) => r.trigger.source !== 'cloudwatch-alarm')).toBe(true);
  });

  it('SNS unavailable: the diagnosis is stored unpublished and the record fails; once SNS is back, the retried event publishes it, once', async () => {
    const proxy = await startFaultProxy(rig.agent.aws.sqsEndpoint);
    try {
      const queue = await rig.subscribe({ serverId: [db1.id] });
      const { handler, store } = setup({ VMCONSOLE_SNS_ENDPOINT: proxy.endpoint });
      proxy.down = true;
      const first = sqsEvent(event(db1.id));
      expect((await handler(first, lambdaContext())).batchItemFailures).toEqual([{ itemIdentifier: first.Records[0]!.messageId }]);
      expect(proxy.refused).toBeGreaterThan(0);
      const [kept] = (await store.list(db1.id, { limit: 10 })).records;
      expect(kept).toMatchObject({ published: false });

      proxy.down = false;
      // SQS gives the failed record back after its visibility timeout: the same event again.
      expect((await handler(first, lambdaContext())).batchItemFailures).toEqual([]);
      const [published] = (await store.list(db1.id, { limit: 10 })).records;
      expect(published).toMatchObject({ id: kept!.id, published: true });
      const delivered = await drain(rig.agent.aws.sqs, queue, { atLeast: 1 });
      expect(delivered.map((m) => m.body.id)).toEqual([kept!.id]);
    } finally {
      await proxy.close();
    }
  });
});
