/** The tf.layers layers of tfjs-natten (no side effects; `register_all.ts` registers them for loading). */
import {NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D, neighborhoodAttention1d,
        neighborhoodAttention2d, neighborhoodAttention3d} from './neighborhood_attention_nd';

export {NeighborhoodAttentionGeneric} from './neighborhood_attention';
export type {NeighborhoodAttentionArgs} from './neighborhood_attention';
export {NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D, neighborhoodAttention1d,
        neighborhoodAttention2d, neighborhoodAttention3d};

/** The layers and their factories as one namespace, like `tf.layers`: `layers.neighborhoodAttention2d(args)`. */
export const layers = {
  NeighborhoodAttention1D,
  NeighborhoodAttention2D,
  NeighborhoodAttention3D,
  neighborhoodAttention1d,
  neighborhoodAttention2d,
  neighborhoodAttention3d,
};
