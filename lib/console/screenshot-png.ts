import { deflateSync } from 'node:zlib';
import { VmconsoleError } from '../errors.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Larger than any console screen (QEMU's VGA tops out far below). */
const MAX_SIDE = 8192;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
/** zlib.crc32 is Node 22+; agents run on Node 20 too. */
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

export const isPng = (bytes: Buffer) => bytes.subarray(0, 8).equals(PNG_SIGNATURE);

/** Width and height from a PNG's IHDR (the first chunk, by the PNG spec), or undefined for anything else. */
export function pngSize(png: Buffer): { width: number; height: number } | undefined {
  if (png.length < 24 || !isPng(png) || png.subarray(12, 16).toString('latin1') !== 'IHDR') return undefined;
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/**
 * A screen as PNG: what the agent sends and S3 keeps. PNG passes through; binary PPM (P6, what
 * QEMU's screendump writes, 8 bits per sample) is re-encoded (a console screen of 720x400 is
 * 864 KB as PPM, a few KB as PNG: small enough for the host's reply). Anything else is refused.
 */
export function screenshotToPng(bytes: Buffer): Buffer {
  if (isPng(bytes)) return bytes;
  const header = /^P6\s+(?:#[^\n]*\n\s*)*(\d{1,5})\s+(?:#[^\n]*\n\s*)*(\d{1,5})\s+(?:#[^\n]*\n\s*)*(\d{1,5})\s/.exec(bytes.subarray(0, 200).toString('latin1'));
  if (!header) throw new VmconsoleError('NotImplemented', 'The screenshot is in a format vmconsole does not read.', { detail: `screenshot starts with ${JSON.stringify(bytes.subarray(0, 8).toString('latin1'))}` });
  const [whole, w, h, max] = header;
  const width = Number(w);
  const height = Number(h);
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE || Number(max) !== 255) {
    throw new VmconsoleError('NotImplemented', 'The screenshot is in a format vmconsole does not read.', { detail: `PPM ${width}x${height}, maxval ${max}` });
  }
  const pixels = bytes.subarray(whole!.length);
  const stride = width * 3;
  if (pixels.length < stride * height) throw new VmconsoleError('Internal', 'The screenshot is truncated.', { detail: `PPM ${width}x${height} with ${pixels.length} bytes of pixels` });
  // Each row: filter type 0 (none), then the row's RGB bytes.
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) pixels.copy(raw, y * (stride + 1) + 1, y * stride, (y + 1) * stride);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour RGB
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
