// What a convkit::Plan holds, and the two steps every plan goes through: made once (validated, algorithm chosen,
// weights packed) and executed many times (workspace checked and aligned, or provided).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "packed_weights.hpp"
#include "primitive.hpp"
#include "problem.hpp"

namespace convkit::detail {

struct PlanState {
  // The convolution as the caller sees it: its input and output sizes are what a run checks buffers against.
  Problem problem;
  std::unique_ptr<Primitive> primitive;
  std::string description;  // Plan::description()
  Epilogue epilogue;        // Plan::epilogue()
  bool residual;            // runs take a residual
  int threads;              // the most a run uses (Plan::threads())
};

// The end of Plan::description(): how many threads a run uses at most, " [2 threads]".
std::string threads_note(int threads);

// A plan's epilogue as the caller gave it, and in the kernels' form.
struct PlanEpilogue {
  Epilogue epilogue;
  PostOps post;
};

// Validates the options and the epilogue (null: the options' activation only).
PlanEpilogue plan_epilogue(const Options& options, const Epilogue* epilogue);

// Validates the options, chooses the algorithm and binds it to `problem`. `borrow_weights`: the primitive may read the
// caller's weights as they lie, because it lives only for one call (see PrimitiveArguments).
// `epilogue`: null for a plan made from options alone (their activation), else the options have none.
PlanState make_plan(const Problem& problem, const float* weights, const float* bias, const Options& options,
                    bool borrow_weights, const Epilogue* epilogue = nullptr);

// The same, with the forms taken from (or packed into) `cache`, whose weights and bias are `weights` and `bias`.
PlanState make_plan(const Problem& problem, const float* weights, const float* bias, const Options& options,
                    const Epilogue* epilogue, WeightCache& cache);

// A plan of `desc` reading the weights of `packed` (Plan(PackedWeights, ...)); `implementation`: null for the
// options' choice, else the entry of that name (make_plan_with).
PlanState make_packed_plan(PackedWeights::State& packed, const Conv2dDesc& desc, const Options& options,
                           const Epilogue* epilogue, const char* implementation = nullptr);

// A plan bound to the entry of the implementation list named `implementation` (primitive.hpp), for tests and tools
// that ask for one path: InvalidArgument for an unknown name, Unsupported when the entry declines the problem.
PlanState make_plan_with(const Problem& problem, const float* weights, const float* bias, const Options& options,
                         const char* implementation, const Epilogue* epilogue = nullptr);

// The same as a convkit::Plan (the C++ test hook).
Plan plan_with(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options,
               const char* implementation, const Epilogue* epilogue = nullptr);

// plan_with for a plan made from packed weights.
Plan plan_with_packed(const PackedWeights& packed, const Conv2dDesc& desc, const Options& options,
                      const char* implementation, const Epilogue* epilogue = nullptr);

// How many forms get_or_pack has packed into the weights' cache (test hook: a plan whose forms exist packs none).
std::uint64_t packed_weights_pack_count(const PackedWeights& packed);

struct PlanAccess {
  static Plan plan(PlanState state);
  static PackedWeights::State& state(const PackedWeights& packed) { return *packed.state_; }
};

// Runs a plan on buffers already checked, with the caller's workspace (checked against the plan's size) or its own.
// `residual`: null for a plan without a residual, checked otherwise. `pool`: the caller's thread pool, or null for
// convkit's own workers.
void execute(const PlanState& plan, const float* input, const float* residual, float* output, void* workspace,
             std::size_t workspace_size, const ThreadPool* pool = nullptr);

// A plan for convolutions that read the same input, whose outputs are concatenated along the channels (concat.cpp).
PlanState make_concat_plan(const ConcatBranch* branches, std::size_t count, const Options& options,
                           const Epilogue* epilogue = nullptr);

}  // namespace convkit::detail
