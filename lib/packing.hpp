// Copies of the caller's weights and bias in the order an algorithm reads them, owned by its Kernel.
#pragma once

#include "memory.hpp"
#include "problem.hpp"

namespace convkit::detail {

// The weights reordered to `target` (OIHW: [Co][Ci/g][Kh][Kw]; OHWI: [Co][Kh][Kw][Ci/g]).
AlignedFloats pack_weights(const Problem& problem, const float* weights, WeightsLayout target);

// The weights transformed for Winograd F(m x m, 3 x 3) (m = 2 or 4, t = m + 2): for group g and transform point
// p < t*t, the (Ci/g) x (Co/g) row-major matrix of (G w G^T)[p], at [((g * t*t + p) * Ci/g + c) * Co/g + o], the
// right-hand operand of that point's GEMM. Computed in double, rounded once. The problem's kernel must be 3x3.
AlignedFloats pack_winograd_weights(const Problem& problem, const float* weights, int tile);

// A copy of the out_channels bias values, or empty when bias is null.
AlignedFloats copy_bias(const Problem& problem, const float* bias);

}  // namespace convkit::detail
