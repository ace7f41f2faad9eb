/**
 * Nova's origin check (nova/console/websocketproxy.py), as a pure function of one request:
 * - no Origin header: a non-browser client, allowed;
 * - the Origin's host name must be one of the allowed origins or the host name of this request's
 *   own Host header. The allow-list is built afresh for every request: a Host value never widens
 *   it for another request (Nova bug 2158919);
 * - the Origin's scheme (or X-Forwarded-Proto, set by a TLS-terminating proxy) must match the
 *   scheme of the base URL the token was issued for, ws counting as http and wss as https.
 */
export function originAllowed(
  headers: { origin?: string | undefined; host?: string | undefined; 'x-forwarded-proto'?: string | undefined },
  allowedOrigins: readonly string[],
  accessUrlBase: string,
): boolean {
  const originHeader = headers.origin;
  if (originHeader === undefined) return true;
  let origin: URL;
  try {
    origin = new URL(originHeader);
  } catch {
    return false;
  }
  const hostname = origin.hostname.toLowerCase();
  const scheme = (headers['x-forwarded-proto']?.split(',')[0]?.trim() || origin.protocol.replace(/:$/, '')).toLowerCase();
  if (hostname === '' || scheme === '') return false;
  const expected = [...allowedOrigins];
  const own = hostOf(headers.host);
  if (own !== undefined) expected.push(own);
  if (!expected.includes(hostname)) return false;
  return schemeMatches(accessUrlBase, scheme);
}

function hostOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  try {
    return new URL(`http://${hostHeader}`).hostname.toLowerCase() || undefined;
  } catch {
    return undefined;
  }
}

function schemeMatches(accessUrlBase: string, scheme: string): boolean {
  let base: string;
  try {
    base = new URL(accessUrlBase).protocol.replace(/:$/, '');
  } catch {
    return false;
  }
  const expected = [base];
  if (base === 'ws') expected.push('http');
  if (base === 'wss') expected.push('https');
  return expected.includes(scheme);
}
