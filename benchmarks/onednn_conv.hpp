// oneDNN's forward convolution on a suite layer, as convkit_bench's external reference point.
//
// Only compiled when CMake found oneDNN (CONVKIT_BENCH_HAVE_DNNL). oneDNN is given every advantage it asks for:
// format_tag::any lets it choose its preferred (blocked) layouts for source, weights and destination, and the data
// is reordered into them once, outside the timing, so a run is exactly what an engine that keeps its tensors in
// oneDNN's layouts pays. The algorithm is convolution_direct: it computes every product, as convkit's Strict mode
// does, where convolution_auto may pick Winograd with its larger error.
#ifndef CONVKIT_BENCH_ONEDNN_CONV_HPP
#define CONVKIT_BENCH_ONEDNN_CONV_HPP

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>

#include "layer_suite.hpp"
#include "measure.hpp"

namespace convkit_bench {

/// "2.6.3 (OpenMP)": the oneDNN linked in and its CPU threading runtime.
inline std::string onednn_version() {
  const dnnl::version_t* version = dnnl::version();
  std::string runtime;
  switch (version->cpu_runtime) {
    case DNNL_RUNTIME_OMP:
      runtime = "OpenMP";
      break;
    case DNNL_RUNTIME_SEQ:
      runtime = "sequential";
      break;
    case DNNL_RUNTIME_TBB:
      runtime = "TBB";
      break;
    case DNNL_RUNTIME_THREADPOOL:
      runtime = "threadpool";
      break;
    default:
      runtime = "runtime " + std::to_string(version->cpu_runtime);
  }
  return std::to_string(version->major) + "." + std::to_string(version->minor) + "." + std::to_string(version->patch) +
         " (" + runtime + ")";
}

/// One layer as a oneDNN forward-inference convolution with bias, its tensors filled with random data in the layouts
/// oneDNN prefers. Construct it after setting the thread count (oneDNN's OpenMP runtime reads omp_get_max_threads(),
/// and some implementations choose their blocking from it when the primitive is created). Throws dnnl::error, for
/// example with status dnnl_unimplemented when oneDNN has no implementation for the shape.
class OnednnConvolution {
 public:
  explicit OnednnConvolution(const Layer& layer) : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using dnnl::memory;
    using Tag = memory::format_tag;
    const convkit::Conv2dDesc& d = layer.desc;
    const memory::dims source_dims{d.batch, d.in_channels, d.in_height, d.in_width};
    const memory::dims destination_dims{d.batch, d.out_channels, layer.out_height(), layer.out_width()};
    // Groups are a leading weights dimension in oneDNN: goihw.
    const bool grouped = d.groups > 1;
    const memory::dims weights_dims =
        grouped ? memory::dims{d.groups, d.out_channels / d.groups, d.in_channels / d.groups, d.kernel_height,
                               d.kernel_width}
                : memory::dims{d.out_channels, d.in_channels, d.kernel_height, d.kernel_width};
    const memory::dims bias_dims{d.out_channels};
    const auto preferred = [](const memory::dims& dims) {
      return memory::desc(dims, memory::data_type::f32, Tag::any);
    };

    // oneDNN counts dilation from 0 (a dense kernel has dilation 0); convkit, like PyTorch, from 1.
    const dnnl::convolution_forward::desc descriptor(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, preferred(source_dims),
        preferred(weights_dims), memory::desc(bias_dims, memory::data_type::f32, Tag::x), preferred(destination_dims),
        {d.stride_height, d.stride_width}, {d.dilation_height - 1, d.dilation_width - 1}, {d.pad_top, d.pad_left},
        {d.pad_bottom, d.pad_right});
    const dnnl::convolution_forward::primitive_desc primitive_desc(descriptor, engine_);
    implementation_ = primitive_desc.impl_info_str();
    primitive_ = dnnl::convolution_forward(primitive_desc);

    const memory source = random_in_layout(source_dims, Tag::nchw, primitive_desc.src_desc(), 31);
    const memory weights =
        random_in_layout(weights_dims, grouped ? Tag::goihw : Tag::oihw, primitive_desc.weights_desc(), 32);
    const memory bias = random_in_layout(bias_dims, Tag::x, primitive_desc.bias_desc(), 33);
    const memory destination(primitive_desc.dst_desc(), engine_);
    arguments_ = {
        {DNNL_ARG_SRC, source}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, destination}};
  }

  /// One convolution, waited for: what convkit_bench times.
  void run() {
    primitive_.execute(stream_, arguments_);
    stream_.wait();
  }

  /// The implementation oneDNN chose, such as "brg:avx512_core" or "jit:avx512_core".
  const std::string& implementation() const noexcept { return implementation_; }

 private:
  // Random data written in a plain layout and reordered into `layout`, the one the primitive wants.
  dnnl::memory random_in_layout(const dnnl::memory::dims& dims, dnnl::memory::format_tag plain,
                                const dnnl::memory::desc& layout, std::uint32_t seed) {
    const dnnl::memory::desc plain_desc(dims, dnnl::memory::data_type::f32, plain);
    dnnl::memory user(plain_desc, engine_);
    fill_random(static_cast<float*>(user.get_data_handle()), plain_desc.get_size() / sizeof(float), seed);
    if (layout == plain_desc) return user;
    dnnl::memory reordered(layout, engine_);
    dnnl::reorder(user, reordered).execute(stream_, user, reordered);
    stream_.wait();
    return reordered;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::convolution_forward primitive_;
  std::unordered_map<int, dnnl::memory> arguments_;
  std::string implementation_;
};

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_ONEDNN_CONV_HPP
