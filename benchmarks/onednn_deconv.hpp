// oneDNN's forward deconvolution on a decoder-suite layer, the reference point of `convkit_bench --transposed`.
//
// Only compiled when CMake found oneDNN (CONVKIT_BENCH_HAVE_DNNL). Treated as OnednnConvolution (onednn_conv.hpp)
// treats the forward convolution: format_tag::any for source, weights and destination, the data reordered into
// oneDNN's chosen layouts once, outside the timing, and algorithm deconvolution_direct.
//
// The data are the caller's, in plain layouts (NCHW input, convkit's IOHW weights), so that the output can be compared
// with convkit's on the same numbers. oneDNN's deconvolution weights have the logical dimensions [oc][ic][kh][kw]
// (goihw: [g][oc/g][ic/g][kh][kw] when grouped); convkit's IOHW, [ic][oc/g][kh][kw], is the same tensor with the two
// channel dimensions swapped in memory: oneDNN's iohw (giohw) format tag.
#ifndef CONVKIT_BENCH_ONEDNN_DECONV_HPP
#define CONVKIT_BENCH_ONEDNN_DECONV_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "layer_suite.hpp"

namespace convkit_bench {

/// One transposed layer as a oneDNN forward-inference deconvolution with bias. Construct it after setting the thread
/// count, as OnednnConvolution. Throws dnnl::error (status dnnl_unimplemented when oneDNN has no implementation).
class OnednnDeconvolution {
 public:
  /// input: N x Ci x H x W; weights: IOHW (Ci x Co/groups x Kh x Kw); bias: Co. Copied (reordered) at construction.
  OnednnDeconvolution(const TransposedLayer& layer, const float* input, const float* weights, const float* bias)
      : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    using dnnl::memory;
    using Tag = memory::format_tag;
    const convkit::ConvTranspose2dDesc& d = layer.desc;
    const memory::dims source_dims{d.batch, d.in_channels, d.in_height, d.in_width};
    destination_dims_ = {d.batch, d.out_channels, layer.out_height(), layer.out_width()};
    const bool grouped = d.groups > 1;
    const memory::dims weights_dims =
        grouped ? memory::dims{d.groups, d.out_channels / d.groups, d.in_channels / d.groups, d.kernel_height,
                               d.kernel_width}
                : memory::dims{d.out_channels, d.in_channels, d.kernel_height, d.kernel_width};
    const memory::dims bias_dims{d.out_channels};
    const auto preferred = [](const memory::dims& dims) {
      return memory::desc(dims, memory::data_type::f32, Tag::any);
    };
    // oneDNN's deconvolution is the backward-data convolution: its padding_r is the convolution's right padding, and
    // the output_padding rows at the bottom and right are that padding made smaller by as much (oneDNN has no
    // output_padding of its own; the extra rows then see only the bias, as in ONNX). Dilation counts from 0.
    const dnnl::deconvolution_forward::desc descriptor(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, preferred(source_dims),
        preferred(weights_dims), memory::desc(bias_dims, memory::data_type::f32, Tag::x), preferred(destination_dims_),
        {d.stride_height, d.stride_width}, {d.dilation_height - 1, d.dilation_width - 1}, {d.pad_top, d.pad_left},
        {d.pad_bottom - d.output_padding_height, d.pad_right - d.output_padding_width});
    const dnnl::deconvolution_forward::primitive_desc primitive_desc(descriptor, engine_);
    implementation_ = primitive_desc.impl_info_str();
    primitive_ = dnnl::deconvolution_forward(primitive_desc);

    const memory source = in_layout(source_dims, Tag::nchw, input, primitive_desc.src_desc());
    const memory weights_memory =
        in_layout(weights_dims, grouped ? Tag::giohw : Tag::iohw, weights, primitive_desc.weights_desc());
    const memory bias_memory = in_layout(bias_dims, Tag::x, bias, primitive_desc.bias_desc());
    destination_ = memory(primitive_desc.dst_desc(), engine_);
    arguments_ = {{DNNL_ARG_SRC, source},
                  {DNNL_ARG_WEIGHTS, weights_memory},
                  {DNNL_ARG_BIAS, bias_memory},
                  {DNNL_ARG_DST, destination_}};
  }

  /// One deconvolution, waited for: what convkit_bench times.
  void run() {
    primitive_.execute(stream_, arguments_);
    stream_.wait();
  }

  /// The last run's output in plain NCHW, for comparing with convkit's.
  std::vector<float> output_nchw() {
    const dnnl::memory::desc plain(destination_dims_, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nchw);
    std::vector<float> out(plain.get_size() / sizeof(float));
    dnnl::memory user(plain, engine_, out.data());
    dnnl::reorder(destination_, user).execute(stream_, destination_, user);
    stream_.wait();
    return out;
  }

  /// The implementation oneDNN chose, such as "jit_deconvolution:avx512_core" or "ref:any".
  const std::string& implementation() const noexcept { return implementation_; }

 private:
  // `data`, laid out as `plain`, copied into a memory of `layout` (the primitive's choice).
  dnnl::memory in_layout(const dnnl::memory::dims& dims, dnnl::memory::format_tag plain, const float* data,
                         const dnnl::memory::desc& layout) {
    const dnnl::memory::desc plain_desc(dims, dnnl::memory::data_type::f32, plain);
    dnnl::memory user(plain_desc, engine_);
    std::memcpy(user.get_data_handle(), data, plain_desc.get_size());
    if (layout == plain_desc) return user;
    dnnl::memory reordered(layout, engine_);
    dnnl::reorder(user, reordered).execute(stream_, user, reordered);
    stream_.wait();
    return reordered;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::memory::dims destination_dims_;
  dnnl::deconvolution_forward primitive_;
  dnnl::memory destination_;
  std::unordered_map<int, dnnl::memory> arguments_;
  std::string implementation_;
};

}  // namespace convkit_bench

#endif  // CONVKIT_BENCH_ONEDNN_DECONV_HPP
