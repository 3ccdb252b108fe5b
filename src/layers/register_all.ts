/** Registers the NA layer classes with tfjs serialization, so `tf.loadLayersModel` can rebuild them. */
import {serialization} from '@tensorflow/tfjs-core';
import {NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D} from './neighborhood_attention_nd';

for (const cls of [NeighborhoodAttention1D, NeighborhoodAttention2D, NeighborhoodAttention3D]) {
  serialization.registerClass(cls);
}
