import type { APIGatewayProxyEventV2 } from 'aws-lambda';

const HOST_RE = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * The public URL the client used to reach the API root (no trailing slash), for links in our
 * documents. Behind API Gateway the scheme is in X-Forwarded-Proto and a named stage prefixes the
 * path (`/dev/v2.1/...`); serverless-offline sends neither. So the root is whatever precedes
 * `/v2.1` in the raw path. An odd Host header falls back to API Gateway's own domain name rather
 * than being echoed into links.
 */
export function requestBaseUrl(event: APIGatewayProxyEventV2): string {
  const headers = event.headers ?? {};
  const forwardedProto = headers['x-forwarded-proto']?.split(',')[0]?.trim().toLowerCase();
  const scheme = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : 'http';
  const hostHeader = headers.host?.trim();
  const host = hostHeader && HOST_RE.test(hostHeader) ? hostHeader : (event.requestContext?.domainName ?? 'localhost');
  const rawPath = event.rawPath ?? '/';
  const apiAt = rawPath.indexOf('/v2.1');
  const prefix = (apiAt >= 0 ? rawPath.slice(0, apiAt) : rawPath).replace(/\/+$/, '');
  return `${scheme}://${host}${prefix}`;
}
