// Copies of the caller's weights and bias in the order an algorithm reads them, owned by its Kernel.
#pragma once

#include "memory.hpp"
#include "problem.hpp"

namespace convkit::detail {

// The weights reordered to `target` (OIHW: [Co][Ci/g][Kh][Kw]; OHWI: [Co][Kh][Kw][Ci/g]).
AlignedFloats pack_weights(const Problem& problem, const float* weights, WeightsLayout target);

// A copy of the out_channels bias values, or empty when bias is null.
AlignedFloats copy_bias(const Problem& problem, const float* bias);

}  // namespace convkit::detail
