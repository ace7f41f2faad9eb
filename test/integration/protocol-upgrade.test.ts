/**
 * Upgrading edge and agents in either order (README, "Upgrading"): a real agent process speaking
 * only the previous host protocol against this edge, and this agent against an edge pinned to the
 * previous protocol, both through the real server-action handler and fauxqs.
 *
 * What "previous" means here: VMCONSOLE_PROTOCOL_MAX=1 makes this build behave on the wire as the
 * version 1 build did: its host record advertises no versions, it leaves version 2 requests for the
 * DLQ, and it answers version 1 requests with version 1 replies ({output} only). It is not the old
 * build's code, so the tests prove the negotiation and both wire formats, not that build's bugs.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createHandler } from '../../functions/server-action.ts';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { DEMO_SERVERS, writeDemoInstances } from '../../lib/local/demo-servers.ts';
import { versionFor } from '../../lib/transport/protocol-version.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { invoke } from '../helpers/http-event.ts';
import { consoleWindow, novaConsoleOutput } from '../helpers/nova-console-formula.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';

const [web] = DEMO_SERVERS;

/** Exactly what a version 1 edge accepted as a console.output reply (its schemas were strict). */
const V1ConsoleReply = z.strictObject({ v: z.literal(1), ok: z.literal(true), result: z.strictObject({ output: z.string() }) });

type Handler = Parameters<typeof invoke>[0];
const ask = (handler: Handler, id: string, length: number | null = null) => invoke(handler, {
  method: 'POST', path: `/v2.1/servers/${id}/action`,
  headers: { 'x-auth-token': 'demo:demo', 'content-type': 'application/json' },
  body: { 'os-getConsoleOutput': length === null ? {} : { length } },
});

describe('an agent of the previous protocol against this edge', () => {
  const old = useAgentOnLocalAws({ host: 'up-old-agent', prepareInstances: writeDemoInstances, agentEnv: { VMCONSOLE_PROTOCOL_MAX: '1' } });
  let deps: ReturnType<typeof edgeDependencies>;
  let handler: Handler;
  beforeAll(() => {
    deps = edgeDependencies({ ...old.aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '5000' });
    handler = createHandler(deps);
  });
  afterAll(() => deps?.requester.close());

  it('advertises no versions, as version 1 agents did; the edge reads that as version 1', async () => {
    const host = (await old.aws.directory.getHost(old.host))!;
    expect(host).not.toHaveProperty('protocolMax');
    expect(host).not.toHaveProperty('protocolMin');
    expect(versionFor(host)).toBe(1);
  });

  it('is answered correctly: the edge speaks version 1 to it (a version 2 request would be left for its DLQ)', async () => {
    const window = consoleWindow(join(old.instancesDir, web.id));
    for (const length of [null, 5]) {
      const res = await ask(handler, web.id, length);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(res.json).toEqual({ output: novaConsoleOutput(window, length) });
    }
  });

  it('a host advertising only versions this edge does not speak is refused at once, naming the versions', async () => {
    const host = (await old.aws.directory.getHost(old.host))!;
    const server = { ...(await old.aws.directory.getServer(web.id))!, id: randomUUID(), name: 'too-new-1', host: 'up-too-new' };
    await old.aws.directory.putHost({ ...host, host: 'up-too-new', protocolMin: PROTOCOL_VERSION + 1, protocolMax: PROTOCOL_VERSION + 1 });
    await old.aws.directory.putServers([server]);
    const res = await ask(handler, server.id);
    expect(res.status).toBe(409);
    expect(res.json.conflictingRequest.message).toBe(
      `The compute host of this server runs an agent newer than this service speaks (host protocol ${PROTOCOL_VERSION + 1} or later; this service speaks up to ${PROTOCOL_VERSION}). The service must be upgraded.`,
    );
  });

  it('an agent older than the oldest version the edge speaks is refused with the versions (the case after a future MIN_PROTOCOL_VERSION bump)', () => {
    const host = { host: 'h-1', agentVersion: '0.0.9', protocolMax: 1 };
    expect(() => versionFor(host, { min: 2, max: 3 })).toThrow(
      expect.objectContaining({ code: 'HostIncompatible', message: 'The compute host of this server runs an agent too old for this service (host protocol 1; 2 or later is needed). Its agent must be upgraded.', detail: 'host h-1 (agent 0.0.9) speaks host protocol 1-1; this service speaks 2-3' }),
    );
  });
});

describe('this agent against an edge pinned to the previous protocol', () => {
  const current = useAgentOnLocalAws({ host: 'up-new-agent', prepareInstances: writeDemoInstances });
  let pinnedDeps: ReturnType<typeof edgeDependencies>;
  let newDeps: ReturnType<typeof edgeDependencies>;
  beforeAll(() => {
    pinnedDeps = edgeDependencies({ ...current.aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '5000', VMCONSOLE_PROTOCOL_MAX: '1' });
    newDeps = edgeDependencies({ ...current.aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '5000' });
  });
  afterAll(async () => {
    await pinnedDeps?.requester.close();
    await newDeps?.requester.close();
  });

  it('advertises every version it speaks', async () => {
    expect(await current.aws.directory.getHost(current.host)).toMatchObject({ protocolMin: MIN_PROTOCOL_VERSION, protocolMax: PROTOCOL_VERSION });
  });

  it('the pinned edge is answered correctly', async () => {
    const window = consoleWindow(join(current.instancesDir, web.id));
    const handler = createHandler(pinnedDeps);
    for (const length of [null, 5]) {
      const res = await ask(handler, web.id, length);
      expect(res.status, JSON.stringify(res.json)).toBe(200);
      expect(res.json).toEqual({ output: novaConsoleOutput(window, length) });
    }
  });

  it('a version 1 request gets a reply a version 1 edge accepts; a version 2 request gets bytes too', async () => {
    const request = (v: number) => ({ v, kind: 'console.output', server: { id: web.id, instanceName: web.id }, length: 3 }) as const;
    const options = () => ({ deadline: Date.now() + 10_000, requestId: `req-${randomUUID()}` });
    const v1 = await pinnedDeps.requester.request(current.host, request(1), options());
    expect(V1ConsoleReply.safeParse(v1).success, JSON.stringify(v1)).toBe(true);
    const v2 = await newDeps.requester.request(current.host, request(2), options());
    expect(v2).toMatchObject({ v: 2, ok: true, result: { output: (v1 as { result: { output: string } }).result.output, bytes: expect.any(Number) } });
  });
});
