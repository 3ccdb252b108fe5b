/**
 * tfjs-natten's side effects: flags; kernels: cpu, tensorflow, then the CUDA routing of both (it wraps their
 * registrations, so they come first), webgpu; gradients; layer class registration.
 */
import {registerFlags} from './flags';
import './kernels/cpu/register_all';
import './kernels/tensorflow/register_all';
import './kernels/cuda/register_all';
import './kernels/webgpu/register_all';
import './gradients/register_all';
import './layers/register_all';

registerFlags();
