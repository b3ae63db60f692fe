// How convkit's own kernels (the GEMM kernels and the direct path) sum a long reduction: in blocks of
// kReductionBlock products, each block summed in registers from zero (the first from the bias) and then added to the
// output, the activation taken after the last block. This is what OpenBLAS's sgemm does with its GEMM_Q, and the
// error then matches it: one running sum through the whole reduction adds every product to a sum up to K / block
// times larger, and on data in [0, 1) loses several times more than OpenBLAS at K = 2,048-32,768
// (tests/test_accuracy.cpp; docs/tuning-log.md).
#pragma once

#include <cstdint>

namespace convkit::detail {

// OpenBLAS's GEMM_Q for sgemm on SkylakeX (its AVX-512 core, and the one Debian's DYNAMIC_ARCH build picks on this
// project's AVX-512 machines): blocks of that length give the same error as its sgemm, at every K of the test.
constexpr std::int64_t kReductionBlock = 448;

}  // namespace convkit::detail
