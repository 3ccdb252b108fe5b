/**
 * A tiny PNG encoder (8-bit RGB, no interlace) on Node's zlib: enough for the demo's pictures, no dependencies.
 */
import {deflateSync} from 'zlib';
import type {RGBImage} from './image';

const SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  if (crcTable == null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) {
        c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** One chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes an RGB image as a PNG file's bytes. */
export function encodePNG(image: RGBImage): Buffer {
  const {width, height, pixels} = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePNG: width and height must be positive integers, got ${width}x${height}`);
  }
  if (pixels.length !== width * height * 3) {
    throw new Error(`encodePNG: pixels must hold width*height*3 = ${width * height * 3} bytes, got ${pixels.length}`);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;   // bit depth
  header[9] = 2;   // colour type: truecolour (RGB)
  header[10] = 0;  // compression: deflate
  header[11] = 0;  // filter method 0
  header[12] = 0;  // no interlace
  const stride = width * 3;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;  // filter type None for every row
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from(SIGNATURE), chunk('IHDR', header), chunk('IDAT', deflateSync(raw, {level: 9})),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
