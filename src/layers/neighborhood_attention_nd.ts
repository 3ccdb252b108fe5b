/**
 * The 1-D, 2-D and 3-D neighborhood-attention layers and their factories. Each class only fixes the
 * number of spatial axes of `NeighborhoodAttentionGeneric`.
 */
import {NeighborhoodAttentionArgs, NeighborhoodAttentionGeneric} from './neighborhood_attention';

/**
 * 1-D neighborhood attention over `[batch, length, channels]` (sequences; `isCausal: true` for language
 * models).
 *
 * ```js
 * const layer = new NeighborhoodAttention1D({numHeads: 4, kernelSize: 7, isCausal: true});
 * const y = layer.apply(tf.randomNormal([2, 64, 32]));   // [2, 64, 32]
 * ```
 */
export class NeighborhoodAttention1D extends NeighborhoodAttentionGeneric {
  /** @nocollapse */
  static className = 'NeighborhoodAttention1D';
  constructor(args: NeighborhoodAttentionArgs) {
    super(1, args);
  }
}

/**
 * 2-D neighborhood attention over `[batch, height, width, channels]` (images, feature maps).
 *
 * ```js
 * const layer = new NeighborhoodAttention2D({numHeads: 4, kernelSize: 7, dilation: 2, useRelPosBias: true});
 * const y = layer.apply(tf.randomNormal([2, 28, 28, 64]));   // [2, 28, 28, 64]
 * ```
 */
export class NeighborhoodAttention2D extends NeighborhoodAttentionGeneric {
  /** @nocollapse */
  static className = 'NeighborhoodAttention2D';
  constructor(args: NeighborhoodAttentionArgs) {
    super(2, args);
  }
}

/**
 * 3-D neighborhood attention over `[batch, depth, height, width, channels]` (video, volumes).
 *
 * ```js
 * const layer = new NeighborhoodAttention3D({numHeads: 2, kernelSize: [3, 5, 5], isCausal: [true, false, false]});
 * const y = layer.apply(tf.randomNormal([1, 8, 16, 16, 32]));   // [1, 8, 16, 16, 32]
 * ```
 */
export class NeighborhoodAttention3D extends NeighborhoodAttentionGeneric {
  /** @nocollapse */
  static className = 'NeighborhoodAttention3D';
  constructor(args: NeighborhoodAttentionArgs) {
    super(3, args);
  }
}

/** Creates a `NeighborhoodAttention1D` layer (like `tf.layers.dense(args)`). */
export function neighborhoodAttention1d(args: NeighborhoodAttentionArgs): NeighborhoodAttention1D {
  return new NeighborhoodAttention1D(args);
}

/**
 * Creates a `NeighborhoodAttention2D` layer.
 *
 * ```js
 * const model = tf.sequential({layers: [
 *   tf.layers.inputLayer({inputShape: [14, 14, 32]}),
 *   neighborhoodAttention2d({numHeads: 4, kernelSize: 5}),
 * ]});
 * ```
 */
export function neighborhoodAttention2d(args: NeighborhoodAttentionArgs): NeighborhoodAttention2D {
  return new NeighborhoodAttention2D(args);
}

/** Creates a `NeighborhoodAttention3D` layer. */
export function neighborhoodAttention3d(args: NeighborhoodAttentionArgs): NeighborhoodAttention3D {
  return new NeighborhoodAttention3D(args);
}
