// The direct algorithm's kernel for NHWC depthwise convolutions (any channel multiplier), vectorised along channels.
#pragma once

#include "primitive.hpp"

#include <memory>

namespace convkit::detail {

// Depthwise (groups == in_channels > 1; out_channels = groups * multiplier) on NHWC tensors.
bool is_depthwise_nhwc(const Problem& problem);

std::unique_ptr<Primitive> create_depthwise_nhwc(const PrimitiveArguments& arguments);

}  // namespace convkit::detail
