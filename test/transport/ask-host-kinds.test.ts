import { describe, expect, it } from 'vitest';
import { KIND_SINCE, PROTOCOL_VERSION } from '../../lib/contracts/messages.ts';
import { askHost, type HostRequester } from '../../lib/transport/ask-host.ts';

const server = { id: '5e1f0c7a-3b2d-4c6e-8f90-a1b2c3d4e5f6', instanceName: 'instance-0000002a' };

/** Records what would have gone to the host, and answers as a host that serves the kind would. */
function recordingHost(result: unknown) {
  const sent: unknown[] = [];
  const requester: HostRequester = {
    request: async (_host, body) => {
      sent.push(body);
      return { v: (body as { v: number }).v, ok: true, result };
    },
  };
  return { requester, sent };
}

describe('askHost and kinds newer than the host', () => {
  it('refuses a kind the host\'s protocol version predates, without sending it', async () => {
    const since = KIND_SINCE['console.endpoint']!;
    const { requester, sent } = recordingHost({ port: 5900, tlsPort: null });
    await expect(askHost(requester, 'console.endpoint', 'old-host', { server, protocol: 'vnc' }, { deadline: Date.now() + 1_000, requestId: 'r-1', version: since - 1 }))
      .rejects.toMatchObject({ code: 'HostIncompatible', message: 'The compute host of this server runs an agent too old for this request. Its agent must be upgraded.' });
    expect(sent).toEqual([]);
  });

  it('sends it to a host that speaks the version', async () => {
    const { requester, sent } = recordingHost({ port: 5900, tlsPort: null });
    await expect(askHost(requester, 'console.endpoint', 'new-host', { server, protocol: 'vnc' }, { deadline: Date.now() + 1_000, requestId: 'r-2', version: PROTOCOL_VERSION }))
      .resolves.toEqual({ port: 5900, tlsPort: null });
    expect(sent).toEqual([{ v: PROTOCOL_VERSION, kind: 'console.endpoint', server, protocol: 'vnc' }]);
  });

  it('still sends the first kinds to a version-1 host', async () => {
    const { requester, sent } = recordingHost({ output: 'x' });
    await expect(askHost(requester, 'console.output', 'v1-host', { server, length: null }, { deadline: Date.now() + 1_000, requestId: 'r-3', version: 1 })).resolves.toEqual({ output: 'x' });
    expect(sent).toHaveLength(1);
  });
});
