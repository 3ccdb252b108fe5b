/**
 * tfjs-natten's side effects: flags, host kernels (cpu, tensorflow; routed to CUDA where enabled, which
 * needs the CPU kernels registered first), gradients, layer class registration.
 */
import {registerFlags} from './flags';
import './kernels/cpu/register_all';
import './kernels/cuda/register_all';
import './gradients/register_all';
import './layers/register_all';

registerFlags();
