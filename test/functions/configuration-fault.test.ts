import { expect, it } from 'vitest';
import { handler } from '../../functions/show-server.ts';
import { invoke } from '../helpers/http-event.ts';

// The test process has no VMCONSOLE_* variables: the deployed entry point's configuration is bad.
it('a function whose configuration is bad answers in Nova\'s format with a request id, not with a bare 502', async () => {
  expect(process.env.VMCONSOLE_TABLE).toBeUndefined();
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await invoke(handler, { method: 'GET', path: '/v2.1/servers/3f4b2f4e-8a1c-4d2e-9b7a-1c0d5e6f7a01', headers: { 'x-auth-token': 'demo:demo' } });
    const requestId = res.headers['x-openstack-request-id'];
    expect(requestId).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ computeFault: { code: 500, message: `Unexpected API Error. The request ${requestId} failed; the operator log has the details.` } });
    expect(res.raw.body).not.toContain('VMCONSOLE');
  }
});
