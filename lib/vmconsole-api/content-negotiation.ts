import { VmconsoleError } from '../errors.ts';

/**
 * The media type to answer in, of those `offered` (most preferred first), by the request's Accept
 * header (RFC 9110 12.5.1: quality values, `type/*` and `*\/*`, the most specific range deciding a
 * type's quality). No Accept header takes the first offered; equal qualities take the earlier
 * offered. Nothing acceptable is 406 NotAcceptable, naming what is offered.
 */
export function negotiate(accept: string | undefined, offered: readonly [string, ...string[]]): string {
  if (accept === undefined || accept.trim() === '') return offered[0];
  const ranges = accept.slice(0, 1024).split(',').map((part) => {
    const [range = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const q = params.map((p) => /^q=([01](?:\.\d{0,3})?)$/.exec(p)?.[1]).find((v) => v !== undefined);
    return { range, q: q === undefined ? 1 : Number(q) };
  }).filter((r) => /^[\w.+-]+\/[\w.+*-]+$/.test(r.range) || r.range === '*/*');
  const quality = (type: string): number => {
    const [major] = type.split('/');
    const exact = ranges.find((r) => r.range === type);
    const partial = ranges.find((r) => r.range === `${major}/*`);
    const any = ranges.find((r) => r.range === '*/*');
    return (exact ?? partial ?? any)?.q ?? 0;
  };
  let best: { type: string; q: number } | undefined;
  for (const type of offered) {
    const q = quality(type);
    if (q > 0 && (!best || q > best.q)) best = { type, q };
  }
  if (!best) throw new VmconsoleError('NotAcceptable', `This resource is available as ${offered.join(' or ')}.`);
  return best.type;
}
