// Loading flow.pt into FlowWeights: names and shapes from spec §4.1, sizes from FlowConfig.
#include "nodes/flow/flow_weights.h"

#include <set>
#include <string>

#include <fmt/format.h>

namespace cosyflow::flow {
namespace {

namespace cpu = kernels::cpu;

// Looks tensors up by name with shape checks and records which names were used.
class Loader {
 public:
  Loader(const Checkpoint& ckpt, WeightType wt, size_t* packed) : ckpt_(ckpt), wt_(wt), packed_(packed) {}

  Result<const float*> Raw(const std::string& name, const Dims& shape) {
    COSY_ASSIGN_OR_RETURN(Tensor t, ckpt_.Get(name, shape));
    if (t.dtype() != DType::kF32 || !t.is_contiguous()) {
      return Unsupported("{}: tensor '{}' must be contiguous float32, got {}", ckpt_.path(), name,
                         t.ToString());
    }
    used_.insert(name);
    return static_cast<const float*>(t.data<float>());
  }

  Result<LayerNormW> Norm(const std::string& prefix, int64_t dim) {
    LayerNormW n;
    COSY_ASSIGN_OR_RETURN(n.w, Raw(prefix + ".weight", {dim}));
    COSY_ASSIGN_OR_RETURN(n.b, Raw(prefix + ".bias", {dim}));
    return n;
  }

  Result<LinearPtr> Dense(const std::string& prefix, int64_t out, int64_t in, bool bias = true) {
    COSY_ASSIGN_OR_RETURN(const float* w, Raw(prefix + ".weight", {out, in}));
    const float* b = nullptr;
    if (bias) {
      COSY_ASSIGN_OR_RETURN(b, Raw(prefix + ".bias", {out}));
    }
    return Pack(w, b, out, in, prefix);
  }

  // Three Linear layers sharing an input, fused into one [3 * out, in] GEMM.
  Result<LinearPtr> Fused3(const std::string& a, const std::string& b, const std::string& c,
                           int64_t out, int64_t in, bool bias) {
    const float *wa, *wb, *wc, *ba = nullptr, *bb = nullptr, *bc = nullptr;
    COSY_ASSIGN_OR_RETURN(wa, Raw(a + ".weight", {out, in}));
    COSY_ASSIGN_OR_RETURN(wb, Raw(b + ".weight", {out, in}));
    COSY_ASSIGN_OR_RETURN(wc, Raw(c + ".weight", {out, in}));
    std::vector<float> w = ConcatRows({{wa, out}, {wb, out}, {wc, out}}, in);
    std::vector<float> bv;
    if (bias) {
      COSY_ASSIGN_OR_RETURN(ba, Raw(a + ".bias", {out}));
      COSY_ASSIGN_OR_RETURN(bb, Raw(b + ".bias", {out}));
      COSY_ASSIGN_OR_RETURN(bc, Raw(c + ".bias", {out}));
      bv = ConcatRows({{ba, out}, {bb, out}, {bc, out}}, 1);
    }
    return Pack(w.data(), bias ? bv.data() : nullptr, 3 * out, in, a);
  }

  Result<Conv1dTm> Conv(const std::string& prefix, int64_t out, int64_t in, int64_t k) {
    COSY_ASSIGN_OR_RETURN(const float* w, Raw(prefix + ".weight", {out, in, k}));
    COSY_ASSIGN_OR_RETURN(const float* b, Raw(prefix + ".bias", {out}));
    auto conv = Conv1dTm::Create(w, b, out, in, k, wt_);
    if (!conv.ok()) return conv.status().WithContext(prefix);
    *packed_ += static_cast<size_t>(out * in * k) * (wt_ == WeightType::kF32 ? 4 : 2);
    return conv;
  }

  Status CheckAllUsed() const {
    for (const auto& e : ckpt_.entries()) {
      if (!used_.count(e.name)) {
        return InvalidArgument("{}: unexpected tensor '{}' {} (not part of the flow model for this config)",
                               ckpt_.path(), e.name, e.tensor.shape().ToString());
      }
    }
    return OkStatus();
  }

 private:
  Result<LinearPtr> Pack(const float* w, const float* b, int64_t out, int64_t in,
                         const std::string& what) {
    auto lin = cpu::Linear::Create(w, b, out, in, wt_, cpu::WeightLayout::kGemm);
    if (!lin.ok()) return lin.status().WithContext(what);
    *packed_ += (*lin)->packed_weight_bytes();
    return std::move(lin).value();
  }

  const Checkpoint& ckpt_;
  WeightType wt_;
  size_t* packed_;
  std::set<std::string> used_;
};

Result<ConformerLayerW> LoadConformer(Loader& ld, const std::string& p, const FlowConfig& c) {
  const int64_t d = c.enc_dim, h = c.enc_heads;
  ConformerLayerW l;
  COSY_ASSIGN_OR_RETURN(l.norm_mha, ld.Norm(p + ".norm_mha", d));
  COSY_ASSIGN_OR_RETURN(l.norm_ff, ld.Norm(p + ".norm_ff", d));
  const std::string a = p + ".self_attn";
  COSY_ASSIGN_OR_RETURN(l.qkv, ld.Fused3(a + ".linear_q", a + ".linear_k", a + ".linear_v", d, d, true));
  COSY_ASSIGN_OR_RETURN(l.out, ld.Dense(a + ".linear_out", d, d));
  COSY_ASSIGN_OR_RETURN(l.pos, ld.Dense(a + ".linear_pos", d, d, /*bias=*/false));
  COSY_ASSIGN_OR_RETURN(l.pos_bias_u, ld.Raw(a + ".pos_bias_u", {h, d / h}));
  COSY_ASSIGN_OR_RETURN(l.pos_bias_v, ld.Raw(a + ".pos_bias_v", {h, d / h}));
  COSY_ASSIGN_OR_RETURN(l.ff1, ld.Dense(p + ".feed_forward.w_1", c.enc_ffn, d));
  COSY_ASSIGN_OR_RETURN(l.ff2, ld.Dense(p + ".feed_forward.w_2", d, c.enc_ffn));
  return l;
}

Result<LinearEmbedW> LoadEmbed(Loader& ld, const std::string& p, int64_t d) {
  LinearEmbedW e;
  COSY_ASSIGN_OR_RETURN(e.lin, ld.Dense(p + ".out.0", d, d));
  COSY_ASSIGN_OR_RETURN(e.ln, ld.Norm(p + ".out.1", d));
  return e;
}

Result<EncoderW> LoadEncoder(Loader& ld, const FlowConfig& c) {
  const int64_t d = c.enc_dim;
  EncoderW e;
  COSY_ASSIGN_OR_RETURN(e.embed, LoadEmbed(ld, "encoder.embed", d));
  COSY_ASSIGN_OR_RETURN(e.lookahead_conv1,
                        ld.Conv("encoder.pre_lookahead_layer.conv1", d, d, c.pre_lookahead_len + 1));
  COSY_ASSIGN_OR_RETURN(e.lookahead_conv2, ld.Conv("encoder.pre_lookahead_layer.conv2", d, d, 3));
  for (int64_t i = 0; i < c.enc_blocks; ++i) {
    COSY_ASSIGN_OR_RETURN(auto l, LoadConformer(ld, fmt::format("encoder.encoders.{}", i), c));
    e.encoders.push_back(std::move(l));
  }
  COSY_ASSIGN_OR_RETURN(e.up_conv, ld.Conv("encoder.up_layer.conv", d, d, 5));
  COSY_ASSIGN_OR_RETURN(e.up_embed, LoadEmbed(ld, "encoder.up_embed", d));
  for (int64_t i = 0; i < c.enc_up_blocks; ++i) {
    COSY_ASSIGN_OR_RETURN(auto l, LoadConformer(ld, fmt::format("encoder.up_encoders.{}", i), c));
    e.up_encoders.push_back(std::move(l));
  }
  COSY_ASSIGN_OR_RETURN(e.after_norm, ld.Norm("encoder.after_norm", d));
  return e;
}

Result<ResnetW> LoadResnet(Loader& ld, const std::string& p, int64_t cin, const FlowConfig& c) {
  const int64_t ch = c.est_channels;
  ResnetW r;
  COSY_ASSIGN_OR_RETURN(r.mlp, ld.Dense(p + ".mlp.1", ch, c.time_dim()));
  COSY_ASSIGN_OR_RETURN(r.conv1, ld.Conv(p + ".block1.block.0", ch, cin, 3));
  COSY_ASSIGN_OR_RETURN(r.ln1, ld.Norm(p + ".block1.block.2", ch));
  COSY_ASSIGN_OR_RETURN(r.conv2, ld.Conv(p + ".block2.block.0", ch, ch, 3));
  COSY_ASSIGN_OR_RETURN(r.ln2, ld.Norm(p + ".block2.block.2", ch));
  COSY_ASSIGN_OR_RETURN(r.res_conv, ld.Conv(p + ".res_conv", ch, cin, 1));
  return r;
}

Result<TransformerBlockW> LoadBlock(Loader& ld, const std::string& p, const FlowConfig& c) {
  const int64_t ch = c.est_channels, inner = c.est_inner();
  TransformerBlockW b;
  COSY_ASSIGN_OR_RETURN(b.norm1, ld.Norm(p + ".norm1", ch));
  COSY_ASSIGN_OR_RETURN(b.norm3, ld.Norm(p + ".norm3", ch));
  COSY_ASSIGN_OR_RETURN(b.qkv, ld.Fused3(p + ".attn1.to_q", p + ".attn1.to_k", p + ".attn1.to_v",
                                         inner, ch, false));
  COSY_ASSIGN_OR_RETURN(b.out, ld.Dense(p + ".attn1.to_out.0", ch, inner));
  COSY_ASSIGN_OR_RETURN(b.ff_in, ld.Dense(p + ".ff.net.0.proj", 4 * ch, ch));
  COSY_ASSIGN_OR_RETURN(b.ff_out, ld.Dense(p + ".ff.net.2", ch, 4 * ch));
  return b;
}

Result<StageW> LoadStage(Loader& ld, const std::string& p, int64_t cin, bool has_conv,
                         const FlowConfig& c) {
  StageW s;
  COSY_ASSIGN_OR_RETURN(s.resnet, LoadResnet(ld, p + ".0", cin, c));
  for (int64_t j = 0; j < c.est_blocks_per_stage; ++j) {
    COSY_ASSIGN_OR_RETURN(auto b, LoadBlock(ld, fmt::format("{}.1.{}", p, j), c));
    s.blocks.push_back(std::move(b));
  }
  if (has_conv) {
    COSY_ASSIGN_OR_RETURN(s.conv, ld.Conv(p + ".2", c.est_channels, c.est_channels, 3));
  }
  return s;
}

Result<EstimatorW> LoadEstimator(Loader& ld, const FlowConfig& c) {
  const std::string p = "decoder.estimator";
  const int64_t ch = c.est_channels;
  EstimatorW e;
  COSY_ASSIGN_OR_RETURN(e.time_1, ld.Dense(p + ".time_mlp.linear_1", c.time_dim(), c.est_in));
  COSY_ASSIGN_OR_RETURN(e.time_2, ld.Dense(p + ".time_mlp.linear_2", c.time_dim(), c.time_dim()));
  COSY_ASSIGN_OR_RETURN(e.down, LoadStage(ld, p + ".down_blocks.0", c.est_in, true, c));
  for (int64_t i = 0; i < c.est_mid_blocks; ++i) {
    COSY_ASSIGN_OR_RETURN(auto s, LoadStage(ld, fmt::format("{}.mid_blocks.{}", p, i), ch, false, c));
    e.mid.push_back(std::move(s));
  }
  COSY_ASSIGN_OR_RETURN(e.up, LoadStage(ld, p + ".up_blocks.0", 2 * ch, true, c));
  COSY_ASSIGN_OR_RETURN(e.final_conv, ld.Conv(p + ".final_block.block.0", ch, ch, 3));
  COSY_ASSIGN_OR_RETURN(e.final_ln, ld.Norm(p + ".final_block.block.2", ch));
  COSY_ASSIGN_OR_RETURN(const float* fw, ld.Raw(p + ".final_proj.weight", {c.output_size, ch, 1}));
  COSY_ASSIGN_OR_RETURN(const float* fb, ld.Raw(p + ".final_proj.bias", {c.output_size}));
  COSY_ASSIGN_OR_RETURN(e.final_proj, cpu::Linear::Create(fw, fb, c.output_size, ch, WeightType::kF32));
  return e;
}

}  // namespace

int64_t FlowWeights::ExpectedTensorCount(const FlowConfig& c) {
  const int64_t top = 5;
  const int64_t encoder = 16 + 19 * (c.enc_blocks + c.enc_up_blocks);
  const int64_t resnet = 12, block = 13;
  const int64_t estimator = 4 + 2 * (resnet + block * c.est_blocks_per_stage + 2) +
                            c.est_mid_blocks * (resnet + block * c.est_blocks_per_stage) + 6;
  return top + encoder + estimator;
}

Result<std::unique_ptr<FlowWeights>> FlowWeights::Load(Checkpoint ckpt, const FlowConfig& cfg,
                                                       WeightType wt) {
  COSY_RETURN_IF_ERROR(cfg.Validate());
  auto w = std::make_unique<FlowWeights>();
  w->ckpt = std::move(ckpt);
  w->weight_type = wt;
  const int64_t want = ExpectedTensorCount(cfg);
  if (static_cast<int64_t>(w->ckpt.size()) != want) {
    return InvalidArgument("{}: {} tensors, expected {} for {}", w->ckpt.path(), w->ckpt.size(),
                           want, cfg.ToString());
  }
  Loader ld(w->ckpt, wt, &w->packed_bytes);
  COSY_ASSIGN_OR_RETURN(w->embedding, ld.Raw("input_embedding.weight", {cfg.vocab_size, cfg.input_size}));
  COSY_ASSIGN_OR_RETURN(w->spk_affine, ld.Dense("spk_embed_affine_layer", cfg.output_size, cfg.spk_embed_dim));
  COSY_ASSIGN_OR_RETURN(w->encoder_proj, ld.Dense("encoder_proj", cfg.output_size, cfg.enc_dim));
  COSY_ASSIGN_OR_RETURN(w->encoder, LoadEncoder(ld, cfg));
  COSY_ASSIGN_OR_RETURN(w->estimator, LoadEstimator(ld, cfg));
  COSY_RETURN_IF_ERROR(ld.CheckAllUsed());
  return w;
}

}  // namespace cosyflow::flow
