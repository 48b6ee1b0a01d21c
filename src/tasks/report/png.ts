import { deflateSync } from 'node:zlib';

/*
 * A minimal PNG encoder (8-bit RGB, no interlace) over node:zlib, for report figures: EM sections with
 * masks or segmentations drawn over them. No dependency needed for this.
 */

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encode an RGB image (`[height, width, 3]` bytes, row-major) as PNG bytes. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  if (rgb.length !== width * height * 3)
    throw new RangeError(
      `encodePng: ${rgb.length} bytes for ${width}x${height} RGB (expected ${width * height * 3})`,
    );
  const raw = new Uint8Array(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0; // filter: none
    raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const sig = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const parts = [sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Grayscale float image in [0, 1] (`[h, w]`) to RGB bytes. */
export function grayToRgb(gray: Float32Array, width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const g = Math.max(0, Math.min(255, Math.round(gray[i]! * 255)));
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
  }
  return rgb;
}

/** A stable, well-spread colour for a label id (0 -> black). */
export function labelColor(id: number): [number, number, number] {
  if (id === 0) return [0, 0, 0];
  let h = Math.imul(id ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return [64 + (h & 0xbf), 64 + ((h >>> 8) & 0xbf), 64 + ((h >>> 16) & 0xbf)];
}

/** Labels (`[h, w]`) to RGB bytes with {@link labelColor}. */
export function labelsToRgb(labels: Uint32Array, width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = labelColor(labels[i]!);
    rgb[3 * i] = r;
    rgb[3 * i + 1] = g;
    rgb[3 * i + 2] = b;
  }
  return rgb;
}

/** Blend `color` into `rgb` with opacity `alpha` where `where[i]` is non-zero. */
export function overlay(
  rgb: Uint8Array,
  where: Uint8Array,
  color: [number, number, number],
  alpha: number,
): Uint8Array {
  const out = rgb.slice();
  for (let i = 0; i < where.length; i++) {
    if (!where[i]) continue;
    for (let c = 0; c < 3; c++)
      out[3 * i + c] = Math.round((1 - alpha) * out[3 * i + c]! + alpha * color[c]!);
  }
  return out;
}

/** Place images side by side (same height) with a gap of `gap` white pixels. */
export function hstack(
  images: { rgb: Uint8Array; width: number }[],
  height: number,
  gap = 4,
): { rgb: Uint8Array; width: number } {
  const width = images.reduce((a, im) => a + im.width, 0) + gap * (images.length - 1);
  const rgb = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const im of images) {
    for (let y = 0; y < height; y++)
      rgb.set(im.rgb.subarray(y * im.width * 3, (y + 1) * im.width * 3), (y * width + x0) * 3);
    x0 += im.width + gap;
  }
  return { rgb, width };
}
