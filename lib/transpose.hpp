// The blocked transpose every path shares: Winograd's NCHW tile rows and the GEMM path's NHWC pixels read as columns.
// (The epilogue's transposed store, which applies bias and activation on the way, is epilogue.hpp's.)
#pragma once

#include <cstdint>

namespace convkit::detail {

// target[j * target_ld + i] = source[i * source_ld + j] for i < rows, j < columns. The buffers must not overlap.
void transpose(const float* source, std::int64_t source_ld, std::int64_t rows, std::int64_t columns, float* target,
               std::int64_t target_ld);

}  // namespace convkit::detail
