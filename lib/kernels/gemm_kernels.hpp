// The contract between the GEMM path (lib/algorithm_gemm.cpp) and convkit's own single-precision GEMM kernels, which
// are written once with xsimd (gemm_kernels_impl.hpp) and compiled for AVX2+FMA and AVX-512 (gemm_<isa>.cpp).
//
// They multiply one operand that is a convolution's weights, packed once when the plan is made, by one that is read
// where it lies: the unfolded tile (or, for a 1x1 kernel, the input itself). OpenBLAS instead packs both operands
// again on every call, and its blocking is made for large square products; on the convolution shapes of the layer
// suite a register tile of 12 x 32 (AVX-512) fed straight from the tile runs 1.1-1.4x faster than cblas_sgemm on
// the same product (Intel Xeon, AVX-512 with two FMA units, one thread). Without AVX2 the GEMM path calls the BLAS.
#pragma once

#include <convkit/convkit.hpp>

#include <cstdint>

namespace convkit::detail {

// C[m x n] = activation(bias + A[m x k] * B[k x n]), row-major C with leading dimension ldc: the bias and the
// activation are applied in registers, so the output is written once. One of A and B is packed weights, in panels of `width` rows of A (panel_rows) or columns
// of B (strip_columns), each panel k-major: element (r, p) of a panel at panel[p * width + r], panel q of the
// operand at q * width * k. The rows of A beyond m, or the columns of B beyond n, in the last panel are zeros.
struct MicroGemm {
  std::int64_t m, n, k;
  const float* a;
  std::int64_t lda;  // the row-major form's; unused when A is packed
  const float* b;
  std::int64_t ldb;  // likewise for B
  float* c;
  std::int64_t ldc;
  const float* bias;  // null, or one per row of C (packed_a: an NCHW output's channels) or column (packed_b: NHWC's)
  Activation activation;
  float clamp_min, clamp_max;
};

struct GemmKernels {
  const char* isa;
  std::int64_t panel_rows;     // rows of A per packed panel
  std::int64_t strip_columns;  // columns of B per packed panel
  // A packed, B row-major: output channels times pixels (an NCHW output; B is the unfolded columns). Reads no float
  // of B outside its m-independent k x n block, whatever n.
  void (*packed_a)(const MicroGemm& gemm);
  // A row-major, B packed: pixels times output channels (an NHWC output; A is the unfolded rows). Reads no float of A
  // outside its m x k block.
  void (*packed_b)(const MicroGemm& gemm);
};

const GemmKernels& gemm_kernels_avx2_fma();
const GemmKernels& gemm_kernels_avx512f();

// The kernels of the ISA the direct kernels use (lib/isa.cpp), or null below AVX2+FMA.
const GemmKernels* gemm_kernels();

}  // namespace convkit::detail
