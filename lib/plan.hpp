// What a convkit::Plan holds, and the two steps every plan goes through: made once (validated, algorithm chosen,
// weights packed) and executed many times (workspace checked and aligned, or provided).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "primitive.hpp"
#include "problem.hpp"

namespace convkit::detail {

struct PlanState {
  // The convolution as the caller sees it: its input and output sizes are what a run checks buffers against.
  Problem problem;
  std::unique_ptr<Primitive> primitive;
  std::string description;  // Plan::description()
};

// Validates the options, chooses the algorithm and binds it to `problem`. `borrow_weights`: the primitive may read the
// caller's weights as they lie, because it lives only for one call (see PrimitiveArguments).
PlanState make_plan(const Problem& problem, const float* weights, const float* bias, const Options& options,
                    bool borrow_weights);

// A plan bound to the entry of the implementation list named `implementation` (primitive.hpp), for tests and tools
// that ask for one path: InvalidArgument for an unknown name, Unsupported when the entry declines the problem.
PlanState make_plan_with(const Problem& problem, const float* weights, const float* bias, const Options& options,
                         const char* implementation);

// The same as a convkit::Plan (the C++ test hook).
Plan plan_with(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options,
               const char* implementation);

struct PlanAccess {
  static Plan plan(PlanState state);
};

// Runs a plan on buffers already checked, with the caller's workspace (checked against the plan's size) or its own.
void execute(const PlanState& plan, const float* input, float* output, void* workspace, std::size_t workspace_size);

// A plan for convolutions that read the same input, whose outputs are concatenated along the channels (concat.cpp).
PlanState make_concat_plan(const ConcatBranch* branches, std::size_t count, const Options& options);

}  // namespace convkit::detail
