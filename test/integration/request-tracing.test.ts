/**
 * One request traceable end to end: the client's x-openstack-request-id (or one made for it) is
 * returned on every response, carried to a real agent process over fauxqs, and is on the edge's
 * request line, its EMF line, the line tying it to the SQS correlation id, and the agent's own
 * request line and EMF line (the agent's real stdout).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler } from '../../functions/server-action.ts';
import { DEMO_SERVERS, writeDemoInstances } from '../../lib/local/demo-servers.ts';
import { createLogger, EDGE_SERVICE } from '../../lib/logger.ts';
import { edgeDependencies } from '../helpers/edge-dependencies.ts';
import { invoke } from '../helpers/http-event.ts';
import { useAgentOnLocalAws } from '../helpers/suite-setup.ts';
import { captureStdout, type JsonLine } from '../helpers/stdout-lines.ts';
import { waitFor } from '../helpers/wait.ts';

const [web] = DEMO_SERVERS;
const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
type Line = JsonLine;

describe('x-openstack-request-id, edge to agent', () => {
  const agentHost = useAgentOnLocalAws({ host: 'trace-host', prepareInstances: writeDemoInstances, agentEnv: { POWERTOOLS_LOG_LEVEL: 'INFO' } });
  let deps: ReturnType<typeof edgeDependencies>;
  let handler: Parameters<typeof invoke>[0];

  beforeAll(() => {
    // The edge's real Powertools logger (Lambda context, correlation id) in place of the recording one.
    deps = edgeDependencies({ ...agentHost.aws.env, VMCONSOLE_REPLY_TIMEOUT_MS: '5000' }, { logger: createLogger(EDGE_SERVICE) });
    handler = createHandler(deps);
  });
  afterAll(() => deps?.requester.close());
  afterEach(() => vi.restoreAllMocks());

  const ask = (serverId: string, headers: Record<string, string> = {}) => invoke(handler, {
    method: 'POST', path: `/v2.1/servers/${serverId}/action`, routeKey: 'POST /v2.1/servers/{server_id}/action',
    headers: { 'x-auth-token': 'demo:demo', 'content-type': 'application/json', ...headers }, body: { 'os-getConsoleOutput': { length: 5 } },
  });
  const agentLines = async () => (await readFile(agentHost.agentLog, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

  it('returns the client\'s id, sends it to the agent, and every line about the request carries it', async () => {
    const requestId = `req-${randomUUID()}`;
    const stdout = captureStdout();
    const res = await ask(web!.id, { 'X-OpenStack-Request-ID': requestId });
    expect(res.status).toBe(200);
    expect(res.headers['x-openstack-request-id']).toBe(requestId);
    expect(res.headers['x-compute-request-id']).toBe(requestId);

    const edge = stdout.lines().filter((l) => l.requestId === requestId);
    // The request line: id, server, kind, duration, outcome, with the Lambda request id and API Gateway's as correlation_id.
    const line = edge.find((l) => l.message === 'request');
    expect(line).toMatchObject({
      level: 'INFO', service: 'vmconsole-edge', server: web!.id, kind: 'POST /v2.1/servers/{server_id}/action os-getConsoleOutput',
      status: 200, outcome: 'OK', function_request_id: 'test-aws-request', correlation_id: 'test-request',
    });
    expect(line!.ms).toBeGreaterThanOrEqual(0);
    // The request's EMF line: Requests and Latency under service and outcome, the ids as properties.
    const emf = edge.find((l) => l._aws);
    expect(emf).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'vmconsole', Dimensions: [['service', 'outcome']], Metrics: [{ Name: 'Requests', Unit: 'Count' }, { Name: 'Latency', Unit: 'Milliseconds' }] }] },
      service: 'vmconsole-edge', outcome: 'OK', Requests: 1, server: web!.id, status: '200',
    });
    expect(emf!.Latency).toBe(line!.ms);
    // The SQS correlation id the agent logs, tied to the request id at the edge.
    const settled = edge.find((l) => l.message === 'host request settled');
    expect(settled).toMatchObject({ host: 'trace-host', kind: 'console.output', outcome: 'OK', correlationId: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    // The agent's own line and EMF line, in its real stdout.
    let agent: Line[] = [];
    await waitFor(async () => {
      agent = (await agentLines()).filter((l) => l.requestId === requestId);
      return agent.length >= 2;
    }, 5_000, 'the agent to log the request');
    expect(agent.find((l) => l.message === 'request answered')).toMatchObject({
      service: 'vmconsole-agent', correlationId: settled!.correlationId, server: web!.id, kind: 'console.output', outcome: 'OK', ms: expect.any(Number),
    });
    expect(agent.find((l) => l._aws)).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'vmconsole', Dimensions: [['service', 'outcome']] }] },
      service: 'vmconsole-agent', outcome: 'OK', Requests: 1, host: 'trace-host', correlationId: settled!.correlationId,
    });
  });

  it('makes a req-<uuid> when the client sends none, or one of another shape, and the agent logs that one', async () => {
    const none = await ask(web!.id);
    expect(none.headers['x-openstack-request-id']).toMatch(REQUEST_ID);
    for (const bad of ['req-NOT-A-UUID', `req-${randomUUID()}\nforged log line`, randomUUID(), `req-${randomUUID().toUpperCase()}`]) {
      const res = await ask(web!.id, { 'x-openstack-request-id': bad });
      expect(res.status).toBe(200);
      expect(res.headers['x-openstack-request-id']).toMatch(REQUEST_ID);
      expect(res.headers['x-openstack-request-id']).not.toBe(bad);
    }
    const generated = none.headers['x-openstack-request-id'];
    await waitFor(async () => (await agentLines()).some((l) => l.message === 'request answered' && l.requestId === generated), 5_000, 'the agent to log the generated id');
  });

  it('returns the id on errors too, and meters them by their code', async () => {
    const requestId = `req-${randomUUID()}`;
    const stdout = captureStdout();
    const res = await ask(randomUUID(), { 'x-openstack-request-id': requestId });
    expect(res.status).toBe(404);
    expect(res.headers['x-openstack-request-id']).toBe(requestId);
    const emf = stdout.lines().find((l) => l._aws && l.requestId === requestId);
    expect(emf).toMatchObject({ outcome: 'ServerNotFound', status: '404', Requests: 1 });
  });
});
