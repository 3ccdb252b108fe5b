/**
 * The attention picture of the demos: the first NA layer's attention over the windows of a few query
 * tokens of a test digit, as an RGB image (demo/train.ts writes it as a PNG, the web demo draws it).
 */
import * as tf from '@tensorflow/tfjs';
import {core} from '../src/index';
import type {NeighborhoodAttention2D} from '../src/index';
import {createImage, RGBImage} from './image';
import {CONFIG, FIRST_NA, Split} from './model';

type RGB = [number, number, number];

const TINT: RGB = [255, 50, 0];
const WINDOW_OUTLINE: RGB = [110, 140, 255];
const QUERY_OUTLINE: RGB = [0, 230, 255];

function fillRect(img: RGBImage, x0: number, y0: number, w: number, h: number, color: RGB): void {
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      img.pixels.set(color, (y * img.width + x) * 3);
    }
  }
}

function strokeRect(img: RGBImage, x0: number, y0: number, w: number, h: number, t: number, color: RGB): void {
  fillRect(img, x0, y0, w, t, color);
  fillRect(img, x0, y0 + h - t, w, t, color);
  fillRect(img, x0, y0, t, h, color);
  fillRect(img, x0 + w - t, y0, t, h, color);
}

/**
 * Draws, for a few query tokens of one test digit, the first NA layer's attention over each query's
 * window: one row per query, one column per head and a last column with the mean over heads. Each panel
 * is the digit (grey) with every key token of the window (outlined in blue) tinted red in proportion to
 * its weight (the panel's largest weight is fully red); the query token is outlined in cyan.
 */
export function drawAttention(digit: Float32Array, weights: Float32Array, grid: number, numHeads: number,
                       kernel: number, queries: Array<[number, number]>): RGBImage {
  const scale = 6, panel = 28 * scale, gap = 10, cell = 4 * scale, origin = CONFIG.crop * scale;
  const cols = numHeads + 1;
  const img = createImage(gap + cols * (panel + gap), gap + queries.length * (panel + gap), [255, 255, 255]);
  const K = kernel * kernel;
  queries.forEach(([qy, qx], row) => {
    const wy = core.getAxisWindow(qy, grid, kernel, 1, 1, false);
    const wx = core.getAxisWindow(qx, grid, kernel, 1, 1, false);
    const base = ((qy * grid + qx) * numHeads) * K;
    for (let col = 0; col < cols; col++) {
      const slot = (t: number): number => {
        if (col < numHeads) {
          return weights[base + col * K + t];
        }
        let s = 0;
        for (let h = 0; h < numHeads; h++) {
          s += weights[base + h * K + t];
        }
        return s / numHeads;
      };
      let max = 0;
      for (let t = 0; t < K; t++) {
        max = Math.max(max, slot(t));
      }
      const x0 = gap + col * (panel + gap), y0 = gap + row * (panel + gap);
      for (let py = 0; py < panel; py++) {
        for (let px = 0; px < panel; px++) {
          const v = digit[Math.floor(py / scale) * 28 + Math.floor(px / scale)];
          const g = Math.round(60 + 120 * v);
          img.pixels.set([g, g, g], ((y0 + py) * img.width + x0 + px) * 3);
        }
      }
      for (let ty = 0; ty < kernel; ty++) {
        for (let tx = 0; tx < kernel; tx++) {
          const alpha = 0.85 * slot(ty * kernel + tx) / (max || 1);
          const ky = wy.first + ty, kx = wx.first + tx;
          for (let py = 0; py < cell; py++) {
            for (let px = 0; px < cell; px++) {
              const at = ((y0 + origin + ky * cell + py) * img.width + x0 + origin + kx * cell + px) * 3;
              for (let ch = 0; ch < 3; ch++) {
                img.pixels[at + ch] = Math.round((1 - alpha) * img.pixels[at + ch] + alpha * TINT[ch]);
              }
            }
          }
        }
      }
      strokeRect(img, x0 + origin + wx.first * cell, y0 + origin + wy.first * cell, kernel * cell, kernel * cell, 1,
                 WINDOW_OUTLINE);
      strokeRect(img, x0 + origin + qx * cell, y0 + origin + qy * cell, cell, cell, 2, QUERY_OUTLINE);
    }
  });
  return img;
}

export interface AttentionPicture {
  image: RGBImage;
  /** Which digit and query tokens it shows. */
  description: string;
}

/** The picture for the first test digit `model` classifies correctly (of the first 64). */
export async function attentionPicture(model: tf.LayersModel, test: Split): Promise<AttentionPicture> {
  const layer = model.getLayer(FIRST_NA) as NeighborhoodAttention2D;
  const layerInput = layer.input as tf.SymbolicTensor;
  const grid = layerInput.shape[1]!;
  // The first test digit the model classifies correctly, for a picture of learned behaviour.
  const predicted = tf.tidy(() => (model.predict(test.x.slice(0, 64)) as tf.Tensor).argMax(-1));
  const classes = await predicted.data();
  predicted.dispose();
  const pick = Math.max(0, Array.from(classes).findIndex((p, i) => p === test.labels[i]));
  const digitX = test.x.slice(pick, 1);
  const toLayer = tf.model({inputs: model.inputs, outputs: layerInput});
  const h = toLayer.predict(digitX) as tf.Tensor;
  const w = layer.attentionWeights(h);
  const [digit, weights] = await Promise.all([digitX.data(), w.data()]);
  tf.dispose([digitX, h, w]);
  const c = Math.floor(grid / 2), e = grid - 1;
  const queries: Array<[number, number]> = [[c, c], [1, c], [c, 1], [e, e]];
  const image = drawAttention(digit as Float32Array, weights as Float32Array, grid, layer.numHeads,
                              layer.kernelSize[0], queries);
  return {
    image,
    description: `test digit #${pick} (label ${test.labels[pick]}), ${queries.length} query tokens ${
        JSON.stringify(queries)} of the ${grid}x${grid} grid; columns: ${layer.numHeads} heads, then their mean`,
  };
}
