/** Routes the host backends' NA kernels through CUDA where it is enabled (see enable.ts and host_routing.ts). */
import {NattenAVBackward, NattenAVForward, NattenNABackward, NattenNAForward, NattenQKBackward,
        NattenQKForward} from '../kernel_names';
import {routeHostKernels} from '../host_routing';
import {avBackwardCuda} from './NattenAVBackward';
import {avForwardCuda} from './NattenAVForward';
import {cudaRoutedFor} from './enable';
import {naBackwardCuda} from './NattenNABackward';
import {naForwardCuda} from './NattenNAForward';
import {qkBackwardCuda} from './NattenQKBackward';
import {qkForwardCuda} from './NattenQKForward';

routeHostKernels({
  [NattenNAForward]: naForwardCuda,
  [NattenNABackward]: naBackwardCuda,
  [NattenQKForward]: qkForwardCuda,
  [NattenQKBackward]: qkBackwardCuda,
  [NattenAVForward]: avForwardCuda,
  [NattenAVBackward]: avBackwardCuda,
}, cudaRoutedFor);
