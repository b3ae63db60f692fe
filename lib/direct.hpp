// The direct family (algorithm_direct.cpp lists its entries): what its files share.
#pragma once

#include "primitive.hpp"

namespace convkit::detail {

// Depthwise (groups == in_channels > 1; out_channels = groups * multiplier) on NHWC tensors.
bool is_depthwise_nhwc(const Problem& problem);

// Where auto prefers the GEMM path to any direct entry (algorithm_direct.cpp).
DeclineReason direct_auto_declines(const Problem& problem);

// Calls of a few thousand FLOPs: per-pixel tap lists made with the plan (direct_tiny.cpp). Also the first entry auto
// tries, before every family (tiny_call_implementations, primitive.hpp).
const Implementation& direct_tiny_implementation();

// NHWC depthwise layers on their channel-vector kernel (direct_depthwise.cpp).
const Implementation& direct_depthwise_nhwc_implementation();

// NCHW depthwise layers of small planes, or of kernels without an unrolled row form, computed along the channels
// between two transposes (direct_depthwise.cpp).
const Implementation& direct_depthwise_blocked_implementation();

// NCHW groups of one input channel (depthwise, any multiplier) in flat form (direct_depthwise_planes.cpp).
const Implementation& direct_depthwise_planes_implementation();

// Outputs narrower than half a vector: scalar loops on the input as it lies (direct_scalar.cpp).
const Implementation& direct_scalar_implementation();

}  // namespace convkit::detail
