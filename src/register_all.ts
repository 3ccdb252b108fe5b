/** tfjs-natten's side effects: flags, host kernels (cpu, tensorflow) and gradients. */
import {registerFlags} from './flags';
import './kernels/cpu/register_all';
import './gradients/register_all';

registerFlags();
