// The C++ API: validation, the choice of algorithm, and the run, with every failure as a convkit::Error.
#include <convkit/convkit.hpp>

#include "algorithms.hpp"
#include "blas.hpp"
#include "error.hpp"
#include "kernels/direct_kernels.hpp"
#include "memory.hpp"
#include "problem.hpp"

#include <new>

namespace convkit {
namespace {

constexpr std::size_t kLocalWorkspaceBytes = 8192;

}  // namespace

OutputSize output_size(const Conv2dDesc& desc) {
  const detail::Problem p = detail::make_problem(desc);
  return {p.out_height, p.out_width};
}

TensorSizes tensor_sizes(const Conv2dDesc& desc) {
  const detail::Problem p = detail::make_problem(desc);
  return {p.input_elements, p.weights_elements, p.out_channels, p.output_elements};
}

Algorithm conv2d(const Conv2dDesc& desc, const float* input, const float* weights, const float* bias, float* output,
                 const Options& options) {
  const detail::Problem problem = detail::make_problem(desc);
  detail::validate_options(options);
  detail::validate_buffers(problem, input, weights, bias, output);
  const detail::AlgorithmEntry& entry = detail::choose_algorithm(problem, options.algorithm);
  try {
    const detail::KernelArguments arguments{problem,
                                            weights,
                                            bias,
                                            options.activation,
                                            options.clamp_min,
                                            options.clamp_max,
                                            detail::resolve_threads(options),
                                            /*borrow_weights=*/true};
    const std::unique_ptr<detail::Kernel> kernel = entry.create(arguments);
    // Small workspaces live on the stack: the lesson-sized calls then allocate only the kernel object.
    alignas(64) unsigned char local[kLocalWorkspaceBytes];
    const std::size_t bytes = kernel->workspace_bytes();
    detail::AlignedFloats heap;
    void* workspace = local;
    if (bytes > sizeof local) {
      heap = detail::allocate_floats((bytes + sizeof(float) - 1) / sizeof(float));
      workspace = heap.get();
    }
    kernel->run(input, output, workspace);
    return kernel->algorithm();
  } catch (const std::bad_alloc&) {
    detail::fail(Status::OutOfMemory, "out of memory while running ", algorithm_name(entry.algorithm), " on a ",
                 problem.batch, "x", problem.in_channels, "x", problem.in_height, "x", problem.in_width, " input");
  }
}

Algorithm chosen_algorithm(const Conv2dDesc& desc, const Options& options) {
  const detail::Problem problem = detail::make_problem(desc);
  detail::validate_options(options);
  return detail::choose_algorithm(problem, options.algorithm).algorithm;
}

const char* simd_isa() noexcept { return detail::direct_kernels().isa; }

const char* algorithm_name(Algorithm algorithm) noexcept {
  switch (algorithm) {
    case Algorithm::Auto:
      return "auto";
    case Algorithm::Reference:
      return "reference";
    case Algorithm::Im2colGemm:
      return "im2col_gemm";
    case Algorithm::Gemm1x1:
      return "gemm_1x1";
    case Algorithm::Direct:
      return "direct";
  }
  return "unknown";
}

BlasInfo blas_info() { return detail::cached_blas_info(); }

}  // namespace convkit
