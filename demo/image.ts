/** A plain RGB image, drawn by the demos and encoded as PNG (png.ts) or put on a canvas (demo/web). */

/** An RGB image: `pixels[(y * width + x) * 3 + c]`, values 0..255. */
export interface RGBImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

export function createImage(width: number, height: number, background: [number, number, number]): RGBImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    pixels.set(background, i * 3);
  }
  return {width, height, pixels};
}
