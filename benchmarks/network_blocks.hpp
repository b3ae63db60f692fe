// Whole network blocks for convkit_bench --blocks: a few convolutions chained as a network runs them, computed on
// the same data three ways:
//
//   fused    every convolution a convkit::Plan with its Epilogue (activation; the block input as residual through
//            run_residual into a separate output, so nothing is copied);
//   unfused  the same plans without an epilogue, each followed by one plain pass over its output that adds the
//            residual and applies the activation: the difference is what fusion saves;
//   oneDNN   the same convolutions as oneDNN primitives with the equivalent post-ops, in its preferred layouts.
//
// Every convolution keeps the spatial size (stride 1, "same" padding) and the batch is 1. Header-only; the oneDNN
// part is compiled only with CONVKIT_BENCH_HAVE_DNNL.
#ifndef CONVKIT_BENCH_NETWORK_BLOCKS_HPP
#define CONVKIT_BENCH_NETWORK_BLOCKS_HPP

#include <algorithm>
#include <cmath>
#include <convkit/convkit.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "measure.hpp"
#ifdef CONVKIT_BENCH_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace convkit_bench {

/// A BlockConv's `input` when it reads the block's input.
constexpr int kBlockInput = -1;

/// One convolution of a block: stride 1, dilation 1, "same" padding (kernel / 2 on every side).
struct BlockConv {
  int input;  ///< the index of the convolution whose output it reads, or kBlockInput
  std::int64_t out_channels, kernel;
  bool depthwise;              ///< groups = in_channels = out_channels
  convkit::Epilogue epilogue;  ///< a residual is always the block input, which has this convolution's output shape
  int concat = -1;  ///< convolutions with the same concat >= 0 read the same input and share the epilogue; convkit
                    ///< runs them as one concatenated plan, its output their outputs stacked in list order
};

struct NetworkBlock {
  std::string name, computes;            // computes: what the block is, for the report
  std::int64_t channels, height, width;  // of the input, batch 1
  std::vector<BlockConv> convs;          // every convolution after the one it reads

  std::int64_t in_channels(std::size_t i) const {
    return convs[i].input == kBlockInput ? channels : convs[static_cast<std::size_t>(convs[i].input)].out_channels;
  }
  convkit::Conv2dDesc desc(std::size_t i, convkit::Layout layout) const {
    const BlockConv& conv = convs[i];
    convkit::Conv2dDesc d;
    d.batch = 1;
    d.in_channels = in_channels(i);
    d.in_height = height;
    d.in_width = width;
    d.out_channels = conv.out_channels;
    d.kernel_height = d.kernel_width = conv.kernel;
    d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = conv.kernel / 2;
    d.groups = conv.depthwise ? d.in_channels : 1;
    d.layout = layout;
    d.weights_layout = layout == convkit::Layout::NHWC ? convkit::WeightsLayout::OHWI : convkit::WeightsLayout::OIHW;
    return d;
  }
  double flops() const {  // 2 * Co * H * W * (Ci / groups) * K * K per convolution
    double total = 0;
    for (std::size_t i = 0; i < convs.size(); ++i) {
      const convkit::Conv2dDesc d = desc(i, convkit::Layout::NCHW);
      total += 2.0 * static_cast<double>(d.out_channels * height * width * (d.in_channels / d.groups) *
                                         d.kernel_height * d.kernel_width);
    }
    return total;
  }
  bool is_read(std::size_t i) const {
    return std::any_of(convs.begin(), convs.end(), [&](const BlockConv& c) { return c.input == static_cast<int>(i); });
  }
};

inline convkit::Epilogue make_epilogue(convkit::Activation activation, bool residual = false) {
  convkit::Epilogue epilogue;
  epilogue.activation = activation;
  if (activation == convkit::Activation::Clamp) {  // every Clamp here is ReLU6
    epilogue.clamp_min = 0.0f;
    epilogue.clamp_max = 6.0f;
  }
  epilogue.residual = residual;
  return epilogue;
}

inline std::vector<NetworkBlock> network_blocks() {
  using convkit::Activation;
  const convkit::Epilogue relu = make_epilogue(Activation::Relu), relu6 = make_epilogue(Activation::Clamp),
                          hardswish = make_epilogue(Activation::HardSwish);
  return {
      {"resnet50_bottleneck",
       "ResNet-50 res2 bottleneck on 256x56x56: 1x1 64 + ReLU, 3x3 64 + ReLU, 1x1 256 + block input + ReLU",
       256,
       56,
       56,
       {{kBlockInput, 64, 1, false, relu},
        {0, 64, 3, false, relu},
        {1, 256, 1, false, make_epilogue(Activation::Relu, true)}}},
      {"mobilenetv2_inverted",
       "MobileNetV2 inverted residual on 32x28x28: 1x1 192 + ReLU6, depthwise 3x3 + ReLU6, 1x1 32 + block input",
       32,
       28,
       28,
       {{kBlockInput, 192, 1, false, relu6},
        {0, 192, 3, true, relu6},
        {1, 32, 1, false, make_epilogue(Activation::None, true)}}},
      {"mobilenetv3_hardswish",
       "MobileNetV3-style block on 40x28x28: 1x1 240 + HardSwish, depthwise 5x5 + HardSwish, 1x1 40 + block input "
       "(no squeeze-excite)",
       40,
       28,
       28,
       {{kBlockInput, 240, 1, false, hardswish},
        {0, 240, 5, true, hardswish},
        {1, 40, 1, false, make_epilogue(Activation::None, true)}}},
      {"inception_3a",
       "GoogLeNet inception 3a on 192x28x28, all + ReLU: 1x1 64; 1x1 96 > 3x3 128; 1x1 16 > 5x5 32; 1x1 32 on the "
       "input itself (the pool branch without its 3x3 max pool); the four branch outputs are left in their own "
       "tensors (no final concat copy)",
       192,
       28,
       28,
       {{kBlockInput, 64, 1, false, relu, 0},
        {kBlockInput, 96, 1, false, relu, 0},
        {kBlockInput, 16, 1, false, relu, 0},
        {kBlockInput, 32, 1, false, relu, 0},
        {1, 128, 3, false, relu},
        {2, 32, 5, false, relu}}},
  };
}

/// A block's tensors in NCHW with OIHW weights (the reference form; convkit's NHWC runs convert them): random, the
/// input in [-4, 4) and the weights scaled by sqrt(6 / fan-in) (He's rule), so that the values keep a standard
/// deviation of about 3 through the block and part of them reach ReLU6's upper bound and HardSwish's flat ends,
/// which the checks then cover.
struct BlockData {
  AlignedArray<float> input;
  std::vector<AlignedArray<float>> weights, bias;

  BlockData(const NetworkBlock& block, std::uint32_t seed)
      : input(random_array(static_cast<std::size_t>(block.channels * block.height * block.width), seed)) {
    for (std::size_t j = 0; j < input.size(); ++j) input.data()[j] *= 4.0f;
    for (std::size_t i = 0; i < block.convs.size(); ++i) {
      const convkit::TensorSizes sizes = convkit::tensor_sizes(block.desc(i, convkit::Layout::NCHW));
      weights.push_back(
          random_array(static_cast<std::size_t>(sizes.weights), seed + 2 * static_cast<std::uint32_t>(i) + 1));
      bias.push_back(random_array(static_cast<std::size_t>(sizes.bias), seed + 2 * static_cast<std::uint32_t>(i) + 2));
      const std::int64_t fan_in = sizes.weights / sizes.bias;
      const float scale = std::sqrt(6.0f / static_cast<float>(fan_in));
      for (std::size_t j = 0; j < weights.back().size(); ++j) weights.back().data()[j] *= scale;
      for (std::size_t j = 0; j < bias.back().size(); ++j) bias.back().data()[j] *= 0.1f;
    }
  }
};

/// [outer][channels][inner] -> [outer][inner][channels]: NCHW -> NHWC (outer = the batch) and OIHW -> OHWI (outer =
/// the output channels).
inline std::vector<float> to_channels_last(const float* data, std::int64_t outer, std::int64_t channels,
                                           std::int64_t inner) {
  std::vector<float> out(static_cast<std::size_t>(outer * channels * inner));
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t i = 0; i < inner; ++i)
        out[static_cast<std::size_t>((o * inner + i) * channels + c)] = data[(o * channels + c) * inner + i];
  return out;
}

/// max |a - b| / max |b|: the difference relative to the tensor's magnitude (an elementwise ratio would blow up where
/// a ReLU leaves values near 0).
inline double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double difference = 0, magnitude = 0;
  if (a.size() != b.size()) return std::nan("");
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(d)) return d;
    difference = std::max(difference, d);
    magnitude = std::max(magnitude, std::fabs(static_cast<double>(b[i])));
  }
  return magnitude > 0 ? difference / magnitude : difference;
}

namespace detail {

template <typename Activation>
void epilogue_loop(float* out, const float* residual, float scale, std::size_t count, Activation act) {
  if (residual != nullptr)
    for (std::size_t i = 0; i < count; ++i) out[i] = act(out[i] + scale * residual[i]);
  else
    for (std::size_t i = 0; i < count; ++i) out[i] = act(out[i]);
}

}  // namespace detail

/// The unfused baseline's epilogue: out = activation(out + residual_scale * residual) as one separate pass over the
/// output (residual null when there is none), on the calling thread. Not an OpenMP loop: libgomp's threads spin
/// after each region and took the cores from convkit's own worker pool (lib/threading.cpp), so at T > 1 the unfused
/// blocks measured two thread pools contending rather than the cost of the extra pass.
inline void apply_epilogue(float* out, const float* residual, std::size_t count, const convkit::Epilogue& e) {
  using convkit::Activation;
  const float scale = e.residual_scale;
  switch (e.activation) {
    case Activation::None:
      if (residual != nullptr) detail::epilogue_loop(out, residual, scale, count, [](float x) { return x; });
      return;
    case Activation::Relu:
      return detail::epilogue_loop(out, residual, scale, count, [](float x) { return std::max(x, 0.0f); });
    case Activation::Clamp:
      return detail::epilogue_loop(out, residual, scale, count, [lo = e.clamp_min, hi = e.clamp_max](float x) {
        return std::min(std::max(x, lo), hi);
      });
    case Activation::HardSwish:
      return detail::epilogue_loop(out, residual, scale, count, [](float x) {
        return x * std::min(std::max(x * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f);
      });
    default:  // the blocks use no other; add one here with its std:: formula when a block does
      throw std::logic_error("apply_epilogue: no unfused form of activation " +
                             std::to_string(static_cast<int>(e.activation)));
  }
}

/// A block as convkit runs it, fused or not, in one layout: its plans made once, run() computing every convolution.
class ConvkitBlock {
 public:
  ConvkitBlock(const NetworkBlock& block, const BlockData& data, convkit::Layout layout,
               const convkit::Options& options, bool fused)
      : block_(block), layout_(layout), pixels_(block.height * block.width), input_(data.input.size()) {
    if (layout == convkit::Layout::NHWC)
      std::memcpy(input_.data(), to_channels_last(data.input.data(), 1, block.channels, pixels_).data(),
                  input_.size() * sizeof(float));
    else
      std::memcpy(input_.data(), data.input.data(), input_.size() * sizeof(float));
    places_.resize(block.convs.size());
    std::vector<std::vector<float>> channels_last_weights(block.convs.size());
    std::vector<convkit::ConcatBranch> branches;
    for (std::size_t i = 0; i < block.convs.size(); ++i) {
      const BlockConv& conv = block.convs[i];
      const convkit::Conv2dDesc desc = block.desc(i, layout);
      const float* weights = data.weights[i].data();
      if (layout == convkit::Layout::NHWC) {
        channels_last_weights[i] = to_channels_last(weights, desc.out_channels, desc.in_channels / desc.groups,
                                                    desc.kernel_height * desc.kernel_width);
        weights = channels_last_weights[i].data();
      }
      branches.push_back({desc, weights, data.bias[i].data()});
      // A step ends at the last convolution of its concat group (or at a convolution alone).
      places_[i] = {steps_.size(), 0, {}};
      if (i > 0 && conv.concat >= 0 && conv.concat == block.convs[i - 1].concat)
        places_[i].offset = places_[i - 1].offset + block.convs[i - 1].out_channels;
      if (i + 1 < block.convs.size() && conv.concat >= 0 && block.convs[i + 1].concat == conv.concat) continue;

      const convkit::Epilogue none;
      const convkit::Epilogue& epilogue = fused ? conv.epilogue : none;
      Step step{branches.size() == 1 ? convkit::Plan(desc, weights, data.bias[i].data(), options, epilogue)
                                     : convkit::Plan(branches, options, epilogue),
                conv.input,
                conv.epilogue,
                fused,
                {}};
      std::int64_t channels = 0;
      for (const convkit::ConcatBranch& branch : branches) channels += branch.desc.out_channels;
      step.output = AlignedArray<float>(static_cast<std::size_t>(channels * pixels_));
      workspace_bytes_ = std::max(workspace_bytes_, step.plan.workspace_size());
      steps_.push_back(std::move(step));
      branches.clear();
    }
    workspace_ = AlignedArray<unsigned char>(workspace_bytes_);
    // Readers of a branch of a concatenated output need it as a tensor of its own: in NCHW (batch 1) its channels
    // are one contiguous range, read in place; in NHWC they are interleaved with the other branches' and are copied
    // out after each run, a cost of the concatenated plan that both convkit timings include.
    for (std::size_t i = 0; i < block.convs.size(); ++i)
      if (block.is_read(i) && layout == convkit::Layout::NHWC &&
          channels_of(places_[i].step) != block.convs[i].out_channels)
        places_[i].gathered = AlignedArray<float>(static_cast<std::size_t>(block.convs[i].out_channels * pixels_));
  }

  void run() {
    for (std::size_t s = 0; s < steps_.size(); ++s) {
      Step& step = steps_[s];
      const float* input = step.input == kBlockInput ? input_.data() : tensor(static_cast<std::size_t>(step.input));
      const float* residual = step.epilogue.residual ? input_.data() : nullptr;
      if (step.fused && residual != nullptr)
        step.plan.run_residual(input, residual, step.output.data(), workspace_.data(), workspace_bytes_);
      else
        step.plan.run(input, step.output.data(), workspace_.data(), workspace_bytes_);
      if (!step.fused) apply_epilogue(step.output.data(), residual, step.output.size(), step.epilogue);
      for (std::size_t i = 0; i < places_.size(); ++i)
        if (places_[i].step == s && places_[i].gathered.size() > 0) gather(i);
    }
  }

  /// Convolution i's output from the last run, in NCHW.
  std::vector<float> output_nchw(std::size_t i) const {
    const Place& place = places_[i];
    const std::int64_t channels = block_.convs[i].out_channels, total = channels_of(place.step);
    const float* output = steps_[place.step].output.data();
    std::vector<float> nchw(static_cast<std::size_t>(channels * pixels_));
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t p = 0; p < pixels_; ++p)
        nchw[static_cast<std::size_t>(c * pixels_ + p)] = layout_ == convkit::Layout::NHWC
                                                              ? output[p * total + place.offset + c]
                                                              : output[(place.offset + c) * pixels_ + p];
    return nchw;
  }

  /// What runs, step by step: "gemm_1x1_convkit > direct_depthwise_nhwc > ...".
  std::string description() const {
    std::string text;
    for (const Step& step : steps_) text += (text.empty() ? "" : " > ") + step.plan.description();
    return text;
  }

 private:
  struct Step {
    convkit::Plan plan;
    int input;
    convkit::Epilogue epilogue;  // the block's, applied by a separate pass when the plan has none
    bool fused;
    AlignedArray<float> output;
  };
  struct Place {
    std::size_t step;
    std::int64_t offset;           // channels before this convolution's in its step's output
    AlignedArray<float> gathered;  // NHWC: the copy out of a concatenated output, when another convolution reads it
  };

  std::int64_t channels_of(std::size_t step) const {
    return static_cast<std::int64_t>(steps_[step].output.size()) / pixels_;
  }
  const float* tensor(std::size_t i) const {
    const Place& place = places_[i];
    if (place.gathered.size() > 0) return place.gathered.data();
    return steps_[place.step].output.data() + place.offset * pixels_;  // NCHW, batch 1: the channels are contiguous
  }
  void gather(std::size_t i) {
    Place& place = places_[i];
    const std::int64_t channels = block_.convs[i].out_channels, total = channels_of(place.step);
    const float* from = steps_[place.step].output.data() + place.offset;
    for (std::int64_t p = 0; p < pixels_; ++p)
      std::memcpy(place.gathered.data() + p * channels, from + p * total,
                  static_cast<std::size_t>(channels) * sizeof(float));
  }

  const NetworkBlock& block_;
  convkit::Layout layout_;
  std::int64_t pixels_;
  AlignedArray<float> input_;  // in layout_, aligned as oneDNN's tensors are
  std::vector<Step> steps_;
  std::vector<Place> places_;  // per convolution
  std::size_t workspace_bytes_ = 0;
  AlignedArray<unsigned char> workspace_;
};

#ifdef CONVKIT_BENCH_HAVE_DNNL

/// A block as oneDNN runs it: one forward-inference convolution_direct primitive per convolution (no concatenated
/// form: the Inception 1x1 branches are four primitives), format_tag::any for source, weights and destination, the
/// epilogue as post-ops (append_sum for the residual, then append_eltwise). Weights and the block input are
/// reordered into the chosen layouts once, outside run(); a reorder between two convolutions whose chosen layouts
/// differ is part of run(), as a network would pay it.
class OnednnBlock {
 public:
  OnednnBlock(const NetworkBlock& block, const BlockData& data)
      : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using dnnl::memory;
    using Tag = memory::format_tag;
    const memory::dims block_dims{1, block.channels, block.height, block.width};
    const memory input(memory::desc(block_dims, memory::data_type::f32, Tag::nchw), engine_,
                       const_cast<float*>(data.input.data()));
    std::vector<memory> inputs;  // the block input in each source layout chosen
    for (std::size_t i = 0; i < block.convs.size(); ++i) {
      const BlockConv& conv = block.convs[i];
      const convkit::Conv2dDesc d = block.desc(i, convkit::Layout::NCHW);
      const memory::dims src_dims{1, d.in_channels, d.in_height, d.in_width};
      const memory::dims dst_dims{1, d.out_channels, d.in_height, d.in_width};  // "same" padding, stride 1
      const memory::dims weights_dims =
          conv.depthwise ? memory::dims{d.groups, 1, 1, d.kernel_height, d.kernel_width}
                         : memory::dims{d.out_channels, d.in_channels, d.kernel_height, d.kernel_width};
      const auto any = [](const memory::dims& dims) { return memory::desc(dims, memory::data_type::f32, Tag::any); };
      const memory::desc bias_desc({d.out_channels}, memory::data_type::f32, Tag::x);
      const dnnl::convolution_forward::desc descriptor(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any(src_dims), any(weights_dims),
          bias_desc, any(dst_dims), {1, 1}, {0, 0}, {d.pad_top, d.pad_left}, {d.pad_bottom, d.pad_right});
      dnnl::primitive_attr attributes;
      attributes.set_post_ops(post_ops(conv.epilogue));
      const dnnl::convolution_forward::primitive_desc primitive(descriptor, attributes, engine_);
      implementations_ += std::string(implementations_.empty() ? "" : ", ") + primitive.impl_info_str();

      Step step;
      step.convolution = dnnl::convolution_forward(primitive);
      if (conv.input == kBlockInput) {  // one copy per layout, shared as a network's tensor would be
        const auto same = std::find_if(inputs.begin(), inputs.end(),
                                       [&](const memory& m) { return m.get_desc() == primitive.src_desc(); });
        step.source = same != inputs.end() ? *same : inputs.emplace_back(reordered(input, primitive.src_desc()));
      } else {
        const memory& produced = steps_[static_cast<std::size_t>(conv.input)].destination;
        if (produced.get_desc() == primitive.src_desc()) {
          step.source = produced;
        } else {
          step.source = memory(primitive.src_desc(), engine_);
          step.layout_change = dnnl::reorder(produced, step.source);
          step.produced = produced;
          ++layout_changes_;
        }
      }
      const memory user_weights(
          memory::desc(weights_dims, memory::data_type::f32, conv.depthwise ? Tag::goihw : Tag::oihw), engine_,
          const_cast<float*>(data.weights[i].data()));
      step.weights = reordered(user_weights, primitive.weights_desc());
      step.bias = reordered(memory(bias_desc, engine_, const_cast<float*>(data.bias[i].data())), bias_desc);
      step.destination = memory(primitive.dst_desc(), engine_);
      if (conv.epilogue.residual) {
        // append_sum accumulates into the destination: it must hold the residual when the convolution starts.
        step.residual = reordered(input, primitive.dst_desc());
        step.residual_copy = dnnl::reorder(step.residual, step.destination);
      }
      steps_.push_back(std::move(step));
    }
  }

  /// The block once, waited for: what convkit_bench times (the residual copies included).
  void run() {
    for (Step& step : steps_) {
      if (step.produced) step.layout_change.execute(stream_, step.produced, step.source);
      if (step.residual) step.residual_copy.execute(stream_, step.residual, step.destination);
      step.convolution.execute(stream_, {{DNNL_ARG_SRC, step.source},
                                         {DNNL_ARG_WEIGHTS, step.weights},
                                         {DNNL_ARG_BIAS, step.bias},
                                         {DNNL_ARG_DST, step.destination}});
    }
    stream_.wait();
  }

  /// Only the residual copies of run(), to tell their share of its time.
  void copy_residuals() {
    for (Step& step : steps_)
      if (step.residual) step.residual_copy.execute(stream_, step.residual, step.destination);
    stream_.wait();
  }
  bool has_residual() const {
    return std::any_of(steps_.begin(), steps_.end(), [](const Step& step) { return bool(step.residual); });
  }

  /// Convolution i's output from the last run, in NCHW.
  std::vector<float> output_nchw(std::size_t i) {
    dnnl::memory destination = steps_[i].destination;
    const dnnl::memory::desc plain(destination.get_desc().dims(), dnnl::memory::data_type::f32,
                                   dnnl::memory::format_tag::nchw);
    std::vector<float> nchw(plain.get_size() / sizeof(float));
    dnnl::memory user(plain, engine_, nchw.data());
    dnnl::reorder(destination, user).execute(stream_, destination, user);
    stream_.wait();
    return nchw;
  }

  const std::string& implementations() const noexcept { return implementations_; }
  int layout_changes() const noexcept { return layout_changes_; }

 private:
  struct Step {
    dnnl::convolution_forward convolution;
    dnnl::memory source, weights, bias, destination;
    dnnl::memory produced;  // the previous convolution's destination, when its layout is not this one's source's
    dnnl::reorder layout_change;
    dnnl::memory residual;  // the block input in the destination's layout
    dnnl::reorder residual_copy;
  };

  static dnnl::post_ops post_ops(const convkit::Epilogue& epilogue) {
    using convkit::Activation;
    dnnl::post_ops ops;
    if (epilogue.residual) ops.append_sum(epilogue.residual_scale);
    switch (epilogue.activation) {
      case Activation::None:
        break;
      case Activation::Relu:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        break;
      case Activation::Clamp:
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, epilogue.clamp_min, epilogue.clamp_max);
        break;
      case Activation::HardSwish:  // oneDNN 2.6: x * relu6(x + 3) / 6, alpha and beta unused
        ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_hardswish, 0.0f, 0.0f);
        break;
      default:
        throw std::logic_error("OnednnBlock: no post-op for activation " +
                               std::to_string(static_cast<int>(epilogue.activation)));
    }
    return ops;
  }

  // A copy of `from` in the layout `to`, made now (outside any timing).
  dnnl::memory reordered(dnnl::memory from, const dnnl::memory::desc& to) {
    dnnl::memory copy(to, engine_);
    dnnl::reorder(from, copy).execute(stream_, from, copy);
    stream_.wait();
    return copy;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::vector<Step> steps_;
  std::string implementations_;
  int layout_changes_ = 0;
};

#endif  // CONVKIT_BENCH_HAVE_DNNL

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_NETWORK_BLOCKS_HPP
