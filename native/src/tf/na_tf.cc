#include "na_tf.h"

#include <mutex>

#include "tensorflow/c/ops.h"

namespace natten {
namespace tf {

namespace {

// What each op declares beyond kernel_size, stride, dilation, is_causal and N.
struct OpInfo {
  const char* name;
  bool scale, rpb, d_lse, m;
  std::vector<const char*> inputs;   // before the `optional` list
  std::vector<const char*> outputs;  // before the `d_optional` list (when m)
};

const std::vector<OpInfo>& op_infos() {
  static const std::vector<OpInfo> infos = {
      {kNAForward, true, true, false, false, {"query: float", "key: float", "value: float"},
       {"output: float", "lse: float"}},
      {kNABackward, true, true, true, true,
       {"query: float", "key: float", "value: float", "output: float", "lse: float", "d_output: float"},
       {"d_query: float", "d_key: float", "d_value: float"}},
      {kQKForward, true, true, false, false, {"query: float", "key: float"}, {"logits: float"}},
      {kQKBackward, true, true, false, true, {"query: float", "key: float", "d_logits: float"},
       {"d_query: float", "d_key: float"}},
      {kAVForward, false, false, false, false, {"weights: float", "value: float"}, {"output: float"}},
      {kAVBackward, false, false, false, true, {"weights: float", "value: float", "d_output: float"},
       {"d_weights: float", "d_value: float"}},
  };
  return infos;
}

const OpInfo* op_info(const char* name) {
  for (const OpInfo& i : op_infos()) {
    if (std::string(i.name) == name) {
      return &i;
    }
  }
  return nullptr;
}

// Outputs have shapes that depend on attributes the C shape-inference API cannot read (the window volume),
// so every op declares its outputs' shapes unknown; eager execution (tfjs-node) never asks.
void unknown_shapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeInferenceContextSetUnknownShape(ctx, status);
}

std::string status_message(TF_Status* s) { return TF_GetCode(s) == TF_OK ? "" : std::string(TF_Message(s)); }

struct StatusPtr {
  TF_Status* s = TF_NewStatus();
  ~StatusPtr() { TF_DeleteStatus(s); }
};

std::string shape_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    s += (i > 0 ? ", " : "") + std::to_string(d[i]);
  }
  return s + "]";
}

}  // namespace

std::string register_ops() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    for (const OpInfo& info : op_infos()) {
      TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(info.name);
      for (const char* in : info.inputs) {
        TF_OpDefinitionBuilderAddInput(b, in);
      }
      TF_OpDefinitionBuilderAddInput(b, "optional: N * float");
      for (const char* out : info.outputs) {
        TF_OpDefinitionBuilderAddOutput(b, out);
      }
      if (info.m) {
        TF_OpDefinitionBuilderAddOutput(b, "d_optional: M * float");
        TF_OpDefinitionBuilderAddAttr(b, "M: int >= 0 = 0");
      }
      TF_OpDefinitionBuilderAddAttr(b, "kernel_size: list(int) >= 1");
      TF_OpDefinitionBuilderAddAttr(b, "stride: list(int) >= 1");
      TF_OpDefinitionBuilderAddAttr(b, "dilation: list(int) >= 1");
      TF_OpDefinitionBuilderAddAttr(b, "is_causal: list(bool) >= 1");
      if (info.scale) {
        TF_OpDefinitionBuilderAddAttr(b, "scale: float");
      }
      if (info.rpb) {
        TF_OpDefinitionBuilderAddAttr(b, "has_rpb: bool = false");
      }
      TF_OpDefinitionBuilderAddAttr(b, "has_extra: bool = false");
      if (info.d_lse) {
        TF_OpDefinitionBuilderAddAttr(b, "has_d_lse: bool = false");
      }
      TF_OpDefinitionBuilderAddAttr(b, "N: int >= 0 = 0");
      TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &unknown_shapes);
      StatusPtr s;
      TF_RegisterOpDefinition(b, s.s);
      if (TF_GetCode(s.s) != TF_OK && error.empty()) {
        error = std::string("registering op ") + info.name + ": " + TF_Message(s.s);
      }
    }
  });
  return error;
}

// ---------------------------------------------------------------------------------------------------------
// Tensors

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    if (t_ != nullptr) {
      TF_DeleteTensor(t_);
    }
    t_ = o.t_;
    o.t_ = nullptr;
  }
  return *this;
}

Tensor::~Tensor() {
  if (t_ != nullptr) {
    TF_DeleteTensor(t_);
  }
}

std::vector<int64_t> Tensor::dims() const {
  std::vector<int64_t> d;
  if (t_ != nullptr) {
    for (int i = 0; i < TF_NumDims(t_); ++i) {
      d.push_back(TF_Dim(t_, i));
    }
  }
  return d;
}

void fail(TF_OpKernelContext* ctx, const char* op, const std::string& message, TF_Code code) {
  StatusPtr s;
  TF_SetStatus(s.s, code, (std::string(op) + ": " + message).c_str());
  TF_OpKernelContext_Failure(ctx, s.s);
}

// ---------------------------------------------------------------------------------------------------------
// Kernel construction: attributes

void* create_kernel(TF_OpKernelConstruction* ctx, const char* op) {
  const OpInfo* info = op_info(op);
  auto* a = new Attrs();
  a->op = op;
  StatusPtr s;
  auto failed = [&](const char* what) {
    if (TF_GetCode(s.s) == TF_OK) {
      return false;
    }
    StatusPtr e;
    TF_SetStatus(e.s, TF_GetCode(s.s), (std::string(op) + ": reading attribute " + what + ": " + TF_Message(s.s)).c_str());
    TF_OpKernelConstruction_Failure(ctx, e.s);
    return true;
  };
  auto int_list = [&](const char* name, std::vector<int32_t>* out) {
    int32_t size = 0, total = 0;
    TF_OpKernelConstruction_GetAttrSize(ctx, name, &size, &total, s.s);
    if (failed(name)) return false;
    out->assign(size < 0 ? 0 : size, 0);
    TF_OpKernelConstruction_GetAttrInt32List(ctx, name, out->data(), size, s.s);
    return !failed(name);
  };
  auto flag = [&](const char* name, bool* out) {
    TF_Bool v = 0;
    TF_OpKernelConstruction_GetAttrBool(ctx, name, &v, s.s);
    *out = v != 0;
    return !failed(name);
  };
  bool ok = int_list("kernel_size", &a->kernel) && int_list("stride", &a->stride) &&
            int_list("dilation", &a->dilation);
  if (ok) {
    int32_t size = 0, total = 0;
    TF_OpKernelConstruction_GetAttrSize(ctx, "is_causal", &size, &total, s.s);
    ok = !failed("is_causal");
    if (ok) {
      std::vector<TF_Bool> v(size < 0 ? 0 : size, 0);
      TF_OpKernelConstruction_GetAttrBoolList(ctx, "is_causal", v.data(), size, s.s);
      ok = !failed("is_causal");
      a->causal.assign(v.begin(), v.end());
    }
  }
  if (ok && info->scale) {
    TF_OpKernelConstruction_GetAttrFloat(ctx, "scale", &a->scale, s.s);
    ok = !failed("scale");
  }
  ok = ok && (!info->rpb || flag("has_rpb", &a->has_rpb)) && flag("has_extra", &a->has_extra) &&
       (!info->d_lse || flag("has_d_lse", &a->has_d_lse));
  if (ok) {
    TF_OpKernelConstruction_GetAttrInt32(ctx, "N", &a->n, s.s);
    ok = !failed("N");
  }
  if (ok && info->m) {
    TF_OpKernelConstruction_GetAttrInt32(ctx, "M", &a->m, s.s);
    ok = !failed("M");
  }
  if (!ok) {
    delete a;
    return nullptr;
  }
  return a;
}

void delete_kernel(void* kernel) { delete static_cast<Attrs*>(kernel); }

// ---------------------------------------------------------------------------------------------------------
// Shape checks

namespace {

// Reads the inputs of a call and checks their shapes, in the order of the op's signature.
class Checker {
 public:
  Checker(const Attrs& a, TF_OpKernelContext* ctx, Call* c) : a_(a), ctx_(ctx), c_(c) {}

  bool ok() const { return c_->error.empty(); }

  Tensor input(int i) {
    StatusPtr s;
    TF_Tensor* t = nullptr;
    TF_GetInput(ctx_, i, &t, s.s);
    if (TF_GetCode(s.s) != TF_OK) {
      error("reading input " + std::to_string(i) + ": " + TF_Message(s.s));
    } else if (TF_TensorType(t) != TF_FLOAT) {
      error("input " + std::to_string(i) + " must be float32");
    }
    return Tensor(t);
  }

  void error(const std::string& message) {
    if (c_->error.empty()) {
      c_->error = message;
    }
  }

  // The window attributes: per-axis lists of one length (1..3), kept in the problem padded to 3 axes.
  int window() {
    const size_t dim = a_.kernel.size();
    if (dim < 1 || dim > 3 || a_.stride.size() != dim || a_.dilation.size() != dim || a_.causal.size() != dim) {
      error("kernel_size, stride, dilation and is_causal must have one entry per spatial axis (1 to 3), got " +
            std::to_string(a_.kernel.size()) + ", " + std::to_string(a_.stride.size()) + ", " +
            std::to_string(a_.dilation.size()) + " and " + std::to_string(a_.causal.size()));
      return 0;
    }
    for (size_t i = 0; i < dim; ++i) {
      const size_t ax = 3 - dim + i;
      c_->p.kernel[ax] = a_.kernel[i];
      c_->p.stride[ax] = a_.stride[i];
      c_->p.dilation[ax] = a_.dilation[i];
      c_->p.causal[ax] = a_.causal[i];
    }
    return static_cast<int>(dim);
  }

  // `t` must have shape `want`; `what` names it and its layout.
  void expect(const Tensor& t, const char* name, const std::vector<int64_t>& want, const char* layout) {
    if (!ok()) return;
    const std::vector<int64_t> got = t.dims();
    if (got != want) {
      error(std::string(name) + " must have shape " + shape_str(want) + " (" + layout + "), got " + shape_str(got));
    }
  }

  // The optional inputs come as a list of N tensors, in a fixed order, each present per its flag.
  void optional_count(int first, int want) {
    if (ok() && a_.n != want) {
      error("the optional inputs (from input " + std::to_string(first) + ") must number " + std::to_string(want) +
            " for these flags, got N=" + std::to_string(a_.n));
    }
  }

  // Sets batch, spatial sizes, heads and head dim from a [batch, ...spatial, heads, dim] tensor.
  void leading(const Tensor& t, const char* name, int dim, int* heads, int* head_dim) {
    if (!ok()) return;
    const std::vector<int64_t> d = t.dims();
    if (static_cast<int>(d.size()) != dim + 3) {
      error(std::string(name) + " must have rank " + std::to_string(dim + 3) + " ([batch, spatial x" +
            std::to_string(dim) + ", heads, dim]), got shape " + shape_str(d));
      return;
    }
    for (int64_t x : d) {
      if (x < 1 || x > INT32_MAX) {
        error(std::string(name) + " has an empty or oversized axis: " + shape_str(d));
        return;
      }
    }
    c_->p.batch = static_cast<int>(d[0]);
    for (int i = 0; i < dim; ++i) {
      c_->p.length[3 - dim + i] = static_cast<int>(d[1 + i]);
    }
    *heads = static_cast<int>(d[dim + 1]);
    *head_dim = static_cast<int>(d[dim + 2]);
  }

  // [batch, ...spatial, rest...]
  std::vector<int64_t> tokens_shape(int dim, std::initializer_list<int64_t> rest) const {
    std::vector<int64_t> s = {c_->p.batch};
    for (int i = 0; i < dim; ++i) s.push_back(c_->p.length[3 - dim + i]);
    s.insert(s.end(), rest);
    return s;
  }

  std::vector<int64_t> rpb_shape(int dim) const {
    std::vector<int64_t> s = {c_->p.heads};
    for (int i = 0; i < dim; ++i) s.push_back(2 * c_->p.kernel[3 - dim + i] - 1);
    return s;
  }

  // The geometry rules of the window (natten::cpu::validate), once every size is known.
  void problem() {
    if (!ok()) return;
    const std::string e = natten::cpu::validate(c_->p);
    if (!e.empty()) error(e);
  }

  Tensor allocate(int index, const std::vector<int64_t>& shape) {
    if (!ok()) return Tensor();
    StatusPtr s;
    int64_t count = 1;
    for (int64_t x : shape) count *= x;
    std::vector<int64_t> dims = shape;
    TF_Tensor* t = TF_AllocateOutput(ctx_, index, TF_FLOAT, dims.data(), static_cast<int>(dims.size()),
                                     static_cast<size_t>(count) * sizeof(float), s.s);
    if (TF_GetCode(s.s) != TF_OK) {
      error("allocating output " + std::to_string(index) + " " + shape_str(shape) + ": " + TF_Message(s.s));
    }
    return Tensor(t);
  }

  // Reports the error, if any, to TensorFlow; true when the call may run.
  bool finish() {
    if (!ok()) {
      fail(ctx_, a_.op, c_->error, c_->error.rfind("allocating", 0) == 0 ? TF_RESOURCE_EXHAUSTED : TF_INVALID_ARGUMENT);
      return false;
    }
    return true;
  }

 private:
  const Attrs& a_;
  TF_OpKernelContext* ctx_;
  Call* c_;
};

// query [B, ...S, H, D], key [B, ...S, Hkv, D], value [B, ...S, Hkv, Dv] (value optional for QK).
void check_qkv(Checker& k, Call* c, int dim, bool with_value) {
  int h = 0, d = 0, hkv = 0, dk = 0;
  k.leading(c->query, "query", dim, &h, &d);
  const natten::cpu::Problem q = c->p;
  k.leading(c->key, "key", dim, &hkv, &dk);
  if (k.ok() && (c->p.batch != q.batch || c->p.length[0] != q.length[0] || c->p.length[1] != q.length[1] ||
                 c->p.length[2] != q.length[2] || dk != d)) {
    k.error("key " + shape_str(c->key.dims()) + " must match query " + shape_str(c->query.dims()) +
            " in batch, spatial sizes and headDim");
  }
  c->p.heads = h;
  c->p.heads_kv = hkv;
  c->p.head_dim = d;
  c->p.head_dim_v = d;
  if (with_value) {
    k.expect(c->value, "value", k.tokens_shape(dim, {hkv, c->value.dims().empty() ? 0 : c->value.dims().back()}),
             "[batch, ...spatial, headsKv, headDimV] matching key");
    if (k.ok()) c->p.head_dim_v = static_cast<int>(c->value.dims().back());
  }
  if (k.ok() && h % hkv != 0) {
    k.error("query heads (" + std::to_string(h) + ") must be a multiple of key heads (" + std::to_string(hkv) + ")");
  }
}

// The optional list: [rpb?] [extra keys?] [extra values?] [d_lse?] (each per the flags given).
void read_optional(Checker& k, Call* c, int first, int dim, bool rpb, bool extra_keys, bool extra_values,
                   bool d_lse) {
  k.optional_count(first, static_cast<int>(rpb) + static_cast<int>(extra_keys) + static_cast<int>(extra_values) +
                              static_cast<int>(d_lse));
  int i = first;
  if (rpb && k.ok()) c->rpb = k.input(i++);
  if (extra_keys && k.ok()) c->extra_keys = k.input(i++);
  if (extra_values && k.ok()) c->extra_values = k.input(i++);
  if (d_lse && k.ok()) c->d_lse = k.input(i++);
  c->p.has_rpb = rpb;
  if (rpb) k.expect(c->rpb, "rpb", k.rpb_shape(dim), "[heads, 2*k0-1, ...]");
  const natten::cpu::Problem& p = c->p;
  const Tensor& extra = extra_keys ? c->extra_keys : c->extra_values;
  if ((extra_keys || extra_values) && k.ok()) {
    const std::vector<int64_t> e = extra.dims();
    c->p.n_extra = e.size() == 4 ? static_cast<int>(e[1]) : -1;
    if (extra_keys) {
      k.expect(c->extra_keys, "additional keys", {p.batch, c->p.n_extra, p.heads_kv, p.head_dim},
               "[batch, nExtra, headsKv, headDim]");
    }
    if (extra_values) {
      k.expect(c->extra_values, "additional values", {p.batch, c->p.n_extra, p.heads_kv, p.head_dim_v},
               "[batch, nExtra, headsKv, headDimV]");
    }
  }
}

}  // namespace

bool prepare_na_forward(const Attrs& a, TF_OpKernelContext* ctx, Call* c) {
  Checker k(a, ctx, c);
  const int dim = k.window();
  c->query = k.input(0);
  c->key = k.input(1);
  c->value = k.input(2);
  check_qkv(k, c, dim, true);
  c->p.scale = a.scale;
  read_optional(k, c, 3, dim, a.has_rpb, a.has_extra, a.has_extra, false);
  k.problem();
  c->out = k.allocate(0, k.tokens_shape(dim, {c->p.heads, c->p.head_dim_v}));
  c->out_lse = k.allocate(1, k.tokens_shape(dim, {c->p.heads}));
  return k.finish();
}

bool prepare_na_backward(const Attrs& a, TF_OpKernelContext* ctx, Call* c) {
  Checker k(a, ctx, c);
  const int dim = k.window();
  c->query = k.input(0);
  c->key = k.input(1);
  c->value = k.input(2);
  c->output = k.input(3);
  c->lse = k.input(4);
  c->d_output = k.input(5);
  check_qkv(k, c, dim, true);
  c->p.scale = a.scale;
  read_optional(k, c, 6, dim, a.has_rpb, a.has_extra, a.has_extra, a.has_d_lse);
  const auto out_shape = k.tokens_shape(dim, {c->p.heads, c->p.head_dim_v});
  const auto lse_shape = k.tokens_shape(dim, {c->p.heads});
  k.expect(c->output, "output", out_shape, "[batch, ...spatial, heads, headDimV]");
  k.expect(c->lse, "lse", lse_shape, "[batch, ...spatial, heads]");
  k.expect(c->d_output, "d_output", out_shape, "the output's shape");
  if (a.has_d_lse) k.expect(c->d_lse, "d_lse", lse_shape, "the lse's shape");
  const int m = static_cast<int>(a.has_rpb) + 2 * static_cast<int>(a.has_extra);
  if (k.ok() && a.m != m) {
    k.error("M (optional gradients) must be " + std::to_string(m) + " for these flags, got " + std::to_string(a.m));
  }
  k.problem();
  c->d_query = k.allocate(0, c->query.dims());
  c->d_key = k.allocate(1, c->key.dims());
  c->d_value = k.allocate(2, c->value.dims());
  int next = 3;
  if (a.has_rpb) c->d_rpb = k.allocate(next++, c->rpb.dims());
  if (a.has_extra) {
    c->d_extra_keys = k.allocate(next++, c->extra_keys.dims());
    c->d_extra_values = k.allocate(next++, c->extra_values.dims());
  }
  return k.finish();
}

bool prepare_qk_forward(const Attrs& a, TF_OpKernelContext* ctx, Call* c) {
  Checker k(a, ctx, c);
  const int dim = k.window();
  c->query = k.input(0);
  c->key = k.input(1);
  check_qkv(k, c, dim, false);
  c->p.scale = a.scale;
  read_optional(k, c, 2, dim, a.has_rpb, a.has_extra, false, false);
  k.problem();
  const int volume = c->p.kernel[0] * c->p.kernel[1] * c->p.kernel[2];
  c->logits = k.allocate(0, k.tokens_shape(dim, {c->p.heads, volume + c->p.n_extra}));
  return k.finish();
}

bool prepare_qk_backward(const Attrs& a, TF_OpKernelContext* ctx, Call* c) {
  Checker k(a, ctx, c);
  const int dim = k.window();
  c->query = k.input(0);
  c->key = k.input(1);
  c->d_logits = k.input(2);
  check_qkv(k, c, dim, false);
  c->p.scale = a.scale;
  read_optional(k, c, 3, dim, false, a.has_extra, false, false);
  c->p.has_rpb = a.has_rpb;
  const int volume = c->p.kernel[0] * c->p.kernel[1] * c->p.kernel[2];
  k.expect(c->d_logits, "d_logits", k.tokens_shape(dim, {c->p.heads, volume + c->p.n_extra}),
           "[batch, ...spatial, heads, kernelVolume + nExtra]");
  const int m = static_cast<int>(a.has_rpb) + static_cast<int>(a.has_extra);
  if (k.ok() && a.m != m) {
    k.error("M (optional gradients) must be " + std::to_string(m) + " for these flags, got " + std::to_string(a.m));
  }
  k.problem();
  c->d_query = k.allocate(0, c->query.dims());
  c->d_key = k.allocate(1, c->key.dims());
  int next = 2;
  if (a.has_rpb) c->d_rpb = k.allocate(next++, k.rpb_shape(dim));
  if (a.has_extra) c->d_extra_keys = k.allocate(next++, c->extra_keys.dims());
  return k.finish();
}

namespace {

// weights [B, ...S, H, K + E], value [B, ...S, Hkv, Dv].
void check_av(Checker& k, Call* c, int dim) {
  int h = 0, slots = 0, hkv = 0, dv = 0;
  k.leading(c->weights, "weights", dim, &h, &slots);
  const natten::cpu::Problem w = c->p;
  k.leading(c->value, "value", dim, &hkv, &dv);
  if (k.ok() && (c->p.batch != w.batch || c->p.length[0] != w.length[0] || c->p.length[1] != w.length[1] ||
                 c->p.length[2] != w.length[2])) {
    k.error("value " + shape_str(c->value.dims()) + " must match weights " + shape_str(c->weights.dims()) +
            " in batch and spatial sizes");
  }
  c->p.heads = h;
  c->p.heads_kv = hkv;
  c->p.head_dim = dv;
  c->p.head_dim_v = dv;
  if (k.ok() && h % hkv != 0) {
    k.error("weights heads (" + std::to_string(h) + ") must be a multiple of value heads (" + std::to_string(hkv) + ")");
  }
}

void check_slots(Checker& k, Call* c) {
  const int volume = c->p.kernel[0] * c->p.kernel[1] * c->p.kernel[2];
  const int slots = static_cast<int>(c->weights.dims().empty() ? 0 : c->weights.dims().back());
  if (k.ok() && slots != volume + c->p.n_extra) {
    k.error("weights' last axis must be kernelVolume + nExtra = " + std::to_string(volume + c->p.n_extra) + ", got " +
            std::to_string(slots));
  }
}

}  // namespace

bool prepare_av_forward(const Attrs& a, TF_OpKernelContext* ctx, Call* c) {
  Checker k(a, ctx, c);
  const int dim = k.window();
  c->weights = k.input(0);
  c->value = k.input(1);
  check_av(k, c, dim);
  read_optional(k, c, 2, dim, false, false, a.has_extra, false);
  check_slots(k, c);
  k.problem();
  c->out = k.allocate(0, k.tokens_shape(dim, {c->p.heads, c->p.head_dim_v}));
  return k.finish();
}

bool prepare_av_backward(const Attrs& a, TF_OpKernelContext* ctx, Call* c) {
  Checker k(a, ctx, c);
  const int dim = k.window();
  c->weights = k.input(0);
  c->value = k.input(1);
  c->d_output = k.input(2);
  check_av(k, c, dim);
  read_optional(k, c, 3, dim, false, false, a.has_extra, false);
  check_slots(k, c);
  k.expect(c->d_output, "d_output", k.tokens_shape(dim, {c->p.heads, c->p.head_dim_v}),
           "[batch, ...spatial, heads, headDimV]");
  if (k.ok() && a.m != static_cast<int>(a.has_extra)) {
    k.error("M (optional gradients) must be " + std::to_string(static_cast<int>(a.has_extra)) +
            " for these flags, got " + std::to_string(a.m));
  }
  k.problem();
  c->d_weights = k.allocate(0, c->weights.dims());
  c->d_value = k.allocate(1, c->value.dims());
  if (a.has_extra) c->d_extra_values = k.allocate(2, c->extra_values.dims());
  return k.finish();
}

// ---------------------------------------------------------------------------------------------------------
// Kernel registration

std::string register_kernels(const char* device, const ComputeFn compute[6]) {
  using Create = void* (*)(TF_OpKernelConstruction*);
  static const Create creates[6] = {
      [](TF_OpKernelConstruction* c) { return create_kernel(c, kNAForward); },
      [](TF_OpKernelConstruction* c) { return create_kernel(c, kNABackward); },
      [](TF_OpKernelConstruction* c) { return create_kernel(c, kQKForward); },
      [](TF_OpKernelConstruction* c) { return create_kernel(c, kQKBackward); },
      [](TF_OpKernelConstruction* c) { return create_kernel(c, kAVForward); },
      [](TF_OpKernelConstruction* c) { return create_kernel(c, kAVBackward); },
  };
  const char* names[6] = {kNAForward, kNABackward, kQKForward, kQKBackward, kAVForward, kAVBackward};
  for (int i = 0; i < 6; ++i) {
    TF_KernelBuilder* b = TF_NewKernelBuilder(names[i], device, creates[i], compute[i], &delete_kernel);
    StatusPtr s;
    TF_RegisterKernelBuilder(names[i], b, s.s);
    if (TF_GetCode(s.s) != TF_OK) {
      return std::string("registering the ") + device + " kernel of " + names[i] + ": " + status_message(s.s);
    }
  }
  return "";
}

}  // namespace tf
}  // namespace natten
