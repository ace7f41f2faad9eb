/**
 * The console token of a WebSocket request, where Nova's proxy looks: `token` in the query of
 * whatever path was requested (noVNC's `/?token=`, vnc.html's `/vnc.html?token=`), else a `token`
 * cookie (spice_auto.html and tempest's serial and SPICE checks send only the cookie). Malformed
 * cookie parts are skipped; a quoted value is unquoted; a later `token` part wins, as with
 * Python's SimpleCookie.
 */
export function tokenFromRequest(url: string | undefined, cookieHeader: string | undefined): string {
  const query = (url ?? '').split('?').slice(1).join('?');
  const fromQuery = new URLSearchParams(query).getAll('token').at(-1);
  if (fromQuery) return fromQuery;
  let token = '';
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== 'token') continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (/^[\x21-\x7e]*$/.test(value)) token = value;
  }
  return token;
}
