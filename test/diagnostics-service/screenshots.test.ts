import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/diagnose-console.ts';
import { awsClientOptions } from '../../lib/aws-client-options.ts';
import { screenshotToPng } from '../../lib/console/screenshot-png.ts';
import { PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { createDiagnoseDependencies } from '../../lib/diagnostics-service/wiring.ts';
import { DEMO_SERVERS } from '../../lib/local/demo-servers.ts';
import type { HostRequester } from '../../lib/transport/ask-host.ts';
import { lambdaContext, sqsEvent } from '../helpers/automation-fixture.ts';
import { drain, useDiagnosesRig } from '../helpers/diagnoses-fixture.ts';
import { recordingLogger } from '../helpers/recording-logger.ts';

const [web1, , batch7] = DEMO_SERVERS;
const BUCKET = 'vmconsole-test-screenshots';
const event = (serverId: string) => JSON.stringify({ v: 1, serverId, reason: 'screens', source: 'screenshots-test' });

describe('screenshots of guests with graphics, stored in S3 and linked from the diagnosis', () => {
  const rig = useDiagnosesRig();
  let s3: S3Client;
  beforeAll(async () => {
    s3 = new S3Client({ ...awsClientOptions(rig.agent.aws.sqsEndpoint, rig.agent.aws.env), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    return () => s3.destroy();
  });
  const env = () => ({ ...rig.env, VMCONSOLE_SCREENSHOT_BUCKET: BUCKET });

  it('a guest without graphics (the files driver has no screens) has no screenshot, and that is no failure', async () => {
    const deps = createDiagnoseDependencies(env(), { logger: recordingLogger() });
    expect((await createHandler(deps)(sqsEvent(event(web1.id)), lambdaContext())).batchItemFailures).toEqual([]);
    const [record] = (await deps.store.list(web1.id, { limit: 5 })).records;
    expect(record!.diagnosis.category).toBe('kernel-panic');
    expect(record!.screenshot).toBeUndefined();
  });

  it('a host that answers with a screen: the PNG is in the bucket under the diagnosis, linked from the stored and the published diagnosis', async () => {
    const png = screenshotToPng(Buffer.concat([Buffer.from('P6 2 1 255\n'), Buffer.from([0, 0, 170, 255, 255, 255])]));
    const queue = await rig.subscribe({ serverId: [batch7.id] });
    const base = createDiagnoseDependencies(env(), { logger: recordingLogger() });
    // The agent's answer as a libvirt host gives it (test/system covers virsh itself); console
    // output still comes from the real agent.
    const requester: HostRequester = {
      request: async (host, request, options) => request.kind === 'console.screenshot'
        ? { v: PROTOCOL_VERSION, ok: true, result: { image: png.toString('base64'), contentType: 'image/png' } }
        : base.requester.request(host, request, options),
    };
    const deps = createDiagnoseDependencies(env(), { logger: recordingLogger(), requester });
    expect((await createHandler(deps)(sqsEvent(event(batch7.id)), lambdaContext())).batchItemFailures).toEqual([]);

    const [record] = (await deps.store.list(batch7.id, { limit: 5 })).records;
    expect(record!.screenshot).toEqual({ bucket: BUCKET, key: `screenshots/${batch7.id}/${record!.id}.png`, contentType: 'image/png', bytes: png.length });
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: record!.screenshot!.key }));
    expect(Buffer.from(await object.Body!.transformToByteArray())).toEqual(png);
    const [published] = await drain(rig.agent.aws.sqs, queue, { atLeast: 1 });
    expect(published!.body.screenshot).toEqual(record!.screenshot);
  });
});
