import type { Principal } from '../auth/principal.ts';
import { hostToAsk, type HostLookup } from '../directory/host-to-ask.ts';
import { VmconsoleError } from '../errors.ts';
import { pngSize } from '../console/screenshot-png.ts';
import { findVisibleServer, type ServerLookup } from '../servers/find-visible-server.ts';
import { askHost, type HostRequester } from '../transport/ask-host.ts';
import { THIS_BUILD, versionFor } from '../transport/protocol-version.ts';

export interface Screenshot {
  serverId: string;
  contentType: 'image/png';
  png: Buffer;
  width: number;
  height: number;
  /** Epoch ms at which the host's answer arrived. */
  takenAt: number;
}

export interface GetScreenshotDeps {
  directory: ServerLookup & HostLookup;
  requester: HostRequester;
  now?: () => number;
  protocolMax?: number;
}

/**
 * GET /vmconsole/v1/servers/{id}/screenshot: the guest's screen now, as PNG, through its compute
 * host (askHost `console.screenshot`: the driver takes it, the agent makes it a PNG). A guest
 * without a screen is 409 NoGraphics: the server exists and is fine, it has nothing to show
 * (a graphics device can be added), so not a 404.
 */
export async function getScreenshot(
  input: { principal: Principal; serverId: string; requestId: string; deadline: number },
  deps: GetScreenshotDeps,
): Promise<Screenshot> {
  const now = deps.now ?? Date.now;
  const server = await findVisibleServer(deps.directory, input.principal, input.serverId);
  const host = await hostToAsk(deps.directory, server, now());
  const version = versionFor(host, { ...THIS_BUILD, max: deps.protocolMax ?? THIS_BUILD.max });
  const { image } = await askHost(deps.requester, 'console.screenshot', host.host, {
    server: { id: server.id, instanceName: server.instanceName },
  }, { deadline: input.deadline, requestId: input.requestId, now, version });
  if (image === null) {
    throw new VmconsoleError('NoGraphics', 'This server has no screen: it has no graphics device, or its hypervisor gives no screenshots.', {
      detail: `host ${host.host} (${host.hypervisor}) answered no image for ${server.id}`,
    });
  }
  const png = Buffer.from(image, 'base64');
  const size = pngSize(png);
  if (!size) throw new VmconsoleError('Internal', 'The compute host sent a malformed screenshot.', { detail: `host ${host.host} sent ${png.length} bytes that are not a PNG` });
  return { serverId: server.id, contentType: 'image/png', png, ...size, takenAt: now() };
}
