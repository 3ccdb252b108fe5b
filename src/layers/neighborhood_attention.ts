/**
 * The neighborhood-attention layer. `NeighborhoodAttentionGeneric` holds all the logic; the 1-D, 2-D and
 * 3-D layers (`neighborhood_attention_nd.ts`) only fix the number of spatial axes.
 */
import {add, dropout, matMul, reshape, serialization, slice, softmax, Tensor, tidy} from '@tensorflow/tfjs-core';
import {initializers, layers, LayerVariable, Shape} from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';
import type {NADim} from '../core/na_info';
import {check, checkDilation, checkIsCausal, checkKernelSize, checkStride, fail} from '../ops/checks';
import {na1d, na1dAV, na1dQK, na2d, na2dAV, na2dQK, na3d, na3dAV, na3dQK} from '../ops/na';
import type {NAOptions} from '../ops/options';
import {checkArgsObject, checkBoolean, checkLayerScale, checkPositiveInteger, checkRate} from './checks';
import {getInitializer, getRegularizer, Initializer, InitializerIdentifier, Regularizer, RegularizerIdentifier,
        serializeObject} from './serialization';

/** Arguments of the NA layers (also what `getConfig()` returns, plus the base layer's fields). */
export interface NeighborhoodAttentionArgs extends LayerArgs {
  /** Number of query heads. Must divide the input's channels (`headDim = channels / numHeads`). */
  numHeads: number;
  /** Window size per spatial axis (a number or one per axis), >= 2, with `kernelSize * dilation <= length`. */
  kernelSize: number | number[];
  /** Window stride per axis, in `[1, kernelSize]`. Default 1. */
  stride?: number | number[];
  /** Dilation per axis, >= 1. Default 1. */
  dilation?: number | number[];
  /** Causal masking per axis (a query only sees keys at or before it). Default false. */
  isCausal?: boolean | boolean[];
  /**
   * Number of key/value heads (grouped-query attention; 1 is multi-query attention). Must divide numHeads.
   * Default numHeads.
   */
  numKvHeads?: number;
  /** Whether the qkv projection has a bias. Default true. */
  qkvBias?: boolean;
  /** Whether to learn a relative positional bias of shape `[numHeads, 2*k0-1, ...]`. Default false. */
  useRelPosBias?: boolean;
  /** Softmax scale; default (`null`/absent) `1/sqrt(headDim)`. */
  scale?: number | null;
  /**
   * Dropout rate on the attention weights, in [0, 1). When > 0 and training, the layer runs the split ops
   * (`naXdQK`, softmax, dropout, `naXdAV`); otherwise the fused op. Default 0.
   */
  attnDropout?: number;
  /** Dropout rate on the output projection, in [0, 1), applied when training. Default 0. */
  projDropout?: number;
  /** Initializer of the qkv and output projection kernels. Default 'glorotUniform'. */
  kernelInitializer?: InitializerIdentifier | Initializer;
  /** Initializer of the qkv and output projection biases. Default 'zeros'. */
  biasInitializer?: InitializerIdentifier | Initializer;
  /** Regularizer of the qkv and output projection kernels. Default none. */
  kernelRegularizer?: RegularizerIdentifier | Regularizer | null;
  /** Regularizer of the qkv and output projection biases. Default none. */
  biasRegularizer?: RegularizerIdentifier | Regularizer | null;
}

type FusedOp = (q: Tensor, k: Tensor, v: Tensor, o: NAOptions) => Tensor;
type SplitOp = (a: Tensor, b: Tensor, o: NAOptions) => Tensor;
const FUSED: FusedOp[] = [na1d, na2d, na3d];
const QK: SplitOp[] = [na1dQK, na2dQK, na3dQK];
const AV: SplitOp[] = [na1dAV, na2dAV, na3dAV];
const SPATIAL_NAMES = ['X', 'Y, X', 'Z, Y, X'];

/** The relative positional bias starts near zero, as in NATTEN (truncated normal, stddev 0.02). */
const RPB_STDDEV = 0.02;

/**
 * Neighborhood attention over `naDim` spatial axes as a layer: input `[batch, ...spatial, channels]`,
 * output the same shape. A fused projection makes queries, keys and values
 * (`channels -> (numHeads + 2*numKvHeads) * headDim`, laid out `[q heads | k heads | v heads]`, each head
 * `headDim` wide), neighborhood attention mixes each token with its window, and an output projection
 * (`numHeads * headDim -> channels`) maps back. Use `NeighborhoodAttention1D/2D/3D`.
 */
export class NeighborhoodAttentionGeneric extends layers.Layer {
  /** @nocollapse Overridden by each rank's class, which is what gets registered and serialized. */
  static className = 'NeighborhoodAttentionGeneric';
  readonly naDim: NADim;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly kernelSize: number[];
  readonly stride: number[];
  readonly dilation: number[];
  readonly isCausal: boolean[];
  readonly qkvBias: boolean;
  readonly useRelPosBias: boolean;
  readonly scale: number | null;
  readonly attnDropout: number;
  readonly projDropout: number;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;
  /** The per-axis arguments as the user gave them (a number stays a number in the config). */
  private readonly windowArgs: {kernelSize: unknown, stride: unknown, dilation: unknown, isCausal: unknown};
  /** Prefix of every error message: the class name. */
  protected readonly owner: string;

  private qkvKernel: LayerVariable | null = null;
  private qkvBiasWeight: LayerVariable | null = null;
  private projKernel: LayerVariable | null = null;
  private projBias: LayerVariable | null = null;
  private rpb: LayerVariable | null = null;
  private channels = 0;

  constructor(naDim: NADim, args: NeighborhoodAttentionArgs) {
    super(args != null && typeof args === 'object' ? args : {});
    const owner = this.getClassName();
    this.owner = owner;
    this.naDim = naDim;
    checkArgsObject(owner, args);
    this.numHeads = checkPositiveInteger(owner, 'numHeads', args.numHeads);
    this.numKvHeads = args.numKvHeads == null ? this.numHeads :
                                                checkPositiveInteger(owner, 'numKvHeads', args.numKvHeads);
    check(owner, this.numHeads % this.numKvHeads === 0,
          () => `numKvHeads=${this.numKvHeads} must divide numHeads=${this.numHeads}`);
    this.kernelSize = checkKernelSize(owner, args.kernelSize, naDim);
    this.stride = checkStride(owner, args.stride, naDim, this.kernelSize);
    this.dilation = checkDilation(owner, args.dilation, naDim);
    this.isCausal = checkIsCausal(owner, args.isCausal, naDim);
    this.windowArgs = {
      kernelSize: copyArg(args.kernelSize),
      stride: copyArg(args.stride ?? 1),
      dilation: copyArg(args.dilation ?? 1),
      isCausal: copyArg(args.isCausal ?? false),
    };
    this.qkvBias = checkBoolean(owner, 'qkvBias', args.qkvBias, true);
    this.useRelPosBias = checkBoolean(owner, 'useRelPosBias', args.useRelPosBias, false);
    this.scale = checkLayerScale(owner, args.scale);
    this.attnDropout = checkRate(owner, 'attnDropout', args.attnDropout);
    this.projDropout = checkRate(owner, 'projDropout', args.projDropout);
    this.kernelInitializer = getInitializer(owner, 'kernelInitializer', args.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = getInitializer(owner, 'biasInitializer', args.biasInitializer ?? 'zeros');
    this.kernelRegularizer = getRegularizer(owner, 'kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = getRegularizer(owner, 'biasRegularizer', args.biasRegularizer);
  }

  /** Channels per head. Known once the layer is built. */
  get headDim(): number {
    return this.channels / this.numHeads;
  }

  /** Checks an input shape `[batch, ...spatial, channels]` (entries may be null before the data is known). */
  private checkInputShape(shape: Shape): void {
    const rank = this.naDim + 2;
    const layout = `[batch, ${SPATIAL_NAMES[this.naDim - 1]}, channels]`;
    check(this.owner, shape.length === rank,
          () => `input must have rank ${rank} (${layout}), got rank ${shape.length} with shape [${shape}]`);
    const channels = shape[rank - 1];
    check(this.owner, channels != null, () => `input channels (last axis) must be known, got shape [${shape}]`);
    check(this.owner, channels! % this.numHeads === 0,
          () => `numHeads=${this.numHeads} must divide the input channels=${channels} (shape [${shape}])`);
    check(this.owner, this.channels === 0 || channels === this.channels,
          () => `input channels=${channels} differ from the ${this.channels} the layer was built with`);
    shape.slice(1, rank - 1).forEach((L, a) => {
      const need = this.kernelSize[a] * this.dilation[a];
      check(this.owner, L == null || L >= need,
            () => `kernelSize[${a}]=${this.kernelSize[a]} with dilation[${a}]=${this.dilation[a]} needs input ` +
                `spatial axis ${a} >= ${need}, got ${L} (input shape [${shape}])`);
    });
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = oneShape(this.owner, inputShape);
    this.checkInputShape(shape);
    const channels = shape[shape.length - 1]!;
    this.channels = channels;
    const qkvUnits = (this.numHeads + 2 * this.numKvHeads) * this.headDim;
    if (this.qkvKernel == null) {
      this.qkvKernel = this.addWeight('qkv_kernel', [channels, qkvUnits], 'float32', this.kernelInitializer,
                                      this.kernelRegularizer ?? undefined, true);
      if (this.qkvBias) {
        this.qkvBiasWeight = this.addWeight('qkv_bias', [qkvUnits], 'float32', this.biasInitializer,
                                            this.biasRegularizer ?? undefined, true);
      }
      this.projKernel = this.addWeight('proj_kernel', [this.numHeads * this.headDim, channels], 'float32',
                                       this.kernelInitializer, this.kernelRegularizer ?? undefined, true);
      this.projBias = this.addWeight('proj_bias', [channels], 'float32', this.biasInitializer,
                                     this.biasRegularizer ?? undefined, true);
      if (this.useRelPosBias) {
        this.rpb = this.addWeight('rpb', [this.numHeads, ...this.kernelSize.map(k => 2 * k - 1)], 'float32',
                                  initializers.truncatedNormal({stddev: RPB_STDDEV}), undefined, true);
      }
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return oneShape(this.owner, inputShape).slice();
  }

  /** Options of the NA ops for this layer's window, scale and bias. */
  private naOptions(): NAOptions {
    const options: NAOptions = {
      kernelSize: this.kernelSize,
      stride: this.stride,
      dilation: this.dilation,
      isCausal: this.isCausal,
    };
    if (this.scale != null) {
      options.scale = this.scale;
    }
    if (this.rpb != null) {
      options.rpb = this.rpb.read();
    }
    return options;
  }

  /**
   * `x [batch, ...spatial, channels]` to queries, keys and values `[batch, ...spatial, heads, headDim]`.
   * One matMul per part with a column slice of the fused kernel: splitting a fused `[tokens, units]`
   * product along its last axis costs more than the products themselves on tfjs's cpu backend.
   */
  private project(x: Tensor): {q: Tensor, k: Tensor, v: Tensor} {
    const D = this.headDim, H = this.numHeads, Hk = this.numKvHeads, C = this.channels;
    const lead = x.shape.slice(0, -1);
    const tokens = reshape(x, [-1, C]);
    const kernel = this.qkvKernel!.read();
    const bias = this.qkvBiasWeight == null ? null : this.qkvBiasWeight.read();
    const part = (offset: number, heads: number): Tensor => {
      const units = heads * D;
      let y = matMul(tokens, slice(kernel, [0, offset], [C, units]));
      if (bias != null) {
        y = add(y, slice(bias, [offset], [units]));
      }
      return reshape(y, [...lead, heads, D]);
    };
    return {q: part(0, H), k: part(H * D, Hk), v: part((H + Hk) * D, Hk)};
  }

  private checkCallInput(inputs: Tensor | Tensor[]): Tensor {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
    if (x == null) {
      fail(this.owner, `expects exactly one input tensor, got ${(inputs as Tensor[]).length}`);
    }
    check(this.owner, x.dtype === 'float32', () => `input must be float32, got ${x.dtype}`);
    this.checkInputShape(x.shape);
    return x;
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = this.checkCallInput(inputs);
      const training = kwargs != null && kwargs['training'] === true;
      const {q, k, v} = this.project(x);
      const options = this.naOptions();
      let attended: Tensor;
      if (training && this.attnDropout > 0) {
        const weights = dropout(softmax(QK[this.naDim - 1](q, k, options)), this.attnDropout);
        attended = AV[this.naDim - 1](weights, v, options);
      } else {
        attended = FUSED[this.naDim - 1](q, k, v, options);
      }
      const merged = reshape(attended, [-1, this.numHeads * this.headDim]);
      let out = add(matMul(merged, this.projKernel!.read()), this.projBias!.read());
      if (training && this.projDropout > 0) {
        out = dropout(out, this.projDropout);
      }
      return reshape(out, x.shape);
    });
  }

  /**
   * The attention weights the layer computes for `input [batch, ...spatial, channels]`, through the split
   * op `naXdQK` and a softmax: `[batch, ...spatial, numHeads, kernelVolume]`, slots row-major over each
   * query's window (see the spec); masked (causal) slots hold 0. No dropout. The layer must be built.
   */
  attentionWeights(input: Tensor): Tensor {
    check(this.owner, this.built, () => 'attentionWeights needs a built layer: apply it to an input first');
    return tidy(() => {
      const x = this.checkCallInput(input);
      const {q, k} = this.project(x);
      return softmax(QK[this.naDim - 1](q, k, this.naOptions()));
    });
  }

  override getConfig(): serialization.ConfigDict {
    const config: serialization.ConfigDict = {
      numHeads: this.numHeads,
      kernelSize: this.windowArgs.kernelSize as serialization.ConfigDictValue,
      stride: this.windowArgs.stride as serialization.ConfigDictValue,
      dilation: this.windowArgs.dilation as serialization.ConfigDictValue,
      isCausal: this.windowArgs.isCausal as serialization.ConfigDictValue,
      numKvHeads: this.numKvHeads,
      qkvBias: this.qkvBias,
      useRelPosBias: this.useRelPosBias,
      scale: this.scale,
      attnDropout: this.attnDropout,
      projDropout: this.projDropout,
      kernelInitializer: serializeObject(this.kernelInitializer),
      biasInitializer: serializeObject(this.biasInitializer),
      kernelRegularizer: serializeObject(this.kernelRegularizer),
      biasRegularizer: serializeObject(this.biasRegularizer),
    };
    return {...config, ...super.getConfig()};
  }
}

function copyArg<T>(value: T | T[]): T | T[] {
  return Array.isArray(value) ? value.slice() : value;
}

function oneShape(owner: string, inputShape: Shape | Shape[]): Shape {
  if (inputShape.length > 0 && Array.isArray(inputShape[0])) {
    check(owner, inputShape.length === 1, () => `expects exactly one input, got ${inputShape.length}`);
    return inputShape[0] as Shape;
  }
  return inputShape as Shape;
}
