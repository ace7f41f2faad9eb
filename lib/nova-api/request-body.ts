import { parseJsonText } from '../contracts/nova-json.ts';
import { VmconsoleError } from '../errors.ts';

/** Nova accepts up to 112 KiB; our only body is a one-key action, so 64 KiB is generous. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * Media types parsed as JSON. Nova takes JSON, its vendor type, text/plain and no type at all.
 * We also take application/x-www-form-urlencoded, which Nova refuses with 415, because it is what
 * `curl -d '{...}'` sends by default and the README's curl examples must work as written.
 */
const JSON_MEDIA_TYPES = new Set(['', 'application/json', 'application/vnd.openstack.compute+json', 'text/plain', 'application/x-www-form-urlencoded']);

function tooLarge(bytes: number): VmconsoleError {
  return new VmconsoleError('PayloadTooLarge', `Request is too large: the body is ${bytes} bytes, the limit is ${MAX_BODY_BYTES}.`);
}

function malformed(cause?: unknown): VmconsoleError {
  return new VmconsoleError('BadRequest', 'Malformed request body', { cause });
}

/**
 * The request body as JSON, or undefined when there is none. The size is checked on the bytes
 * before anything is decoded or parsed; API Gateway may hand the body over base64-encoded.
 * Headers must be lower-cased.
 */
export function parseJsonBody(
  event: { body?: string | undefined; isBase64Encoded?: boolean },
  headers: Readonly<Record<string, string | undefined>>,
): unknown {
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw tooLarge(declared);

  const raw = event.body ?? '';
  // base64 of N bytes is ~4N/3 characters: refuse oversized bodies before decoding them.
  if (event.isBase64Encoded && Math.floor((raw.length * 3) / 4) > MAX_BODY_BYTES + 2) throw tooLarge(Math.floor((raw.length * 3) / 4));
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge(bytes.byteLength);

  const mediaType = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!JSON_MEDIA_TYPES.has(mediaType)) {
    throw new VmconsoleError('UnsupportedMediaType', `Unsupported Content-Type: ${mediaType.slice(0, 100)}. Send application/json.`);
  }
  if (bytes.byteLength === 0) return undefined;
  // Python's json.loads refuses a BOM ("Unexpected UTF-8 BOM"), so Nova answers 400; TextDecoder
  // would strip it silently.
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) throw malformed();

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw malformed(err);
  }
  try {
    return parseJsonText(text);
  } catch (err) {
    throw malformed(err);
  }
}
