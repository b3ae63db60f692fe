// The C++ API: validation, the choice of algorithm, and the run, with every failure as a convkit::Error.
#include <convkit/convkit.h>

#include <convkit/convkit.hpp>
#include <cstdint>
#include <new>
#include <optional>
#include <utility>

#include "blas.hpp"
#include "error.hpp"
#include "kernels/direct_ukernels.hpp"
#include "memory.hpp"
#include "plan.hpp"
#include "primitive.hpp"
#include "problem.hpp"
#include "threading.hpp"
#include "tuning.hpp"

namespace convkit {
namespace detail {
namespace {

// The kernels want 64-byte aligned scratch; a caller's workspace may have any alignment, so the size a plan reports
// includes the slack to align it.
constexpr std::size_t kWorkspaceAlignment = 64;

std::size_t reported_workspace_bytes(std::size_t kernel_bytes) {
  return kernel_bytes == 0 ? 0 : kernel_bytes + kWorkspaceAlignment - 1;
}

void* align_workspace(void* workspace) {
  const auto address = reinterpret_cast<std::uintptr_t>(workspace);
  return reinterpret_cast<void*>((address + kWorkspaceAlignment - 1) & ~std::uintptr_t{kWorkspaceAlignment - 1});
}

}  // namespace
}  // namespace detail

OutputSize output_size(const Conv2dDesc& desc) {
  const detail::Problem p = detail::make_problem(desc);
  return {p.out_height, p.out_width};
}

TensorSizes tensor_sizes(const Conv2dDesc& desc) {
  const detail::Problem p = detail::make_problem(desc);
  return {p.input_elements, p.weights_elements, p.out_channels, p.output_elements};
}

namespace detail {

namespace {

// Binds `entry` to the problem: the plan's primitive, described by the entry's name.
PlanState bind(const Problem& problem, const float* weights, const float* bias, const Options& options,
               const PlanEpilogue& epilogue, bool borrow_weights, const Implementation& entry, const Tuning& tuning,
               WeightCache& cache) {
  const int threads = resolve_threads(options);
  PlanState plan{problem, nullptr, entry.name, epilogue.epilogue, epilogue.post.residual, threads};
  try {
    const PostOps& post = epilogue.post;
    const PrimitiveArguments arguments{plan.problem,   weights,        bias, post.register_activation(),
                                       post.clamp_min, post.clamp_max, post, threads,
                                       tuning,         borrow_weights, cache};
    plan.primitive = entry.create(arguments);
  } catch (const std::bad_alloc&) {
    fail(Status::OutOfMemory, "out of memory while preparing ", entry.name, " for ", describe(plan.problem));
  }
  return plan;
}

}  // namespace

std::string threads_note(int threads) { return concat(" [", threads, threads == 1 ? " thread]" : " threads]"); }

PlanEpilogue plan_epilogue(const Options& options, const Epilogue* epilogue) {
  validate_options(options);
  if (epilogue == nullptr) {
    const Epilogue own = epilogue_of(options);
    Options none = options;
    none.activation = Activation::None;
    return {own, make_post_ops(own, none)};
  }
  return {*epilogue, make_post_ops(*epilogue, options)};
}

namespace {

PlanState make_plan_in(const Problem& problem, const float* weights, const float* bias, const Options& options,
                       bool borrow_weights, const Epilogue* epilogue, WeightCache& cache) {
  const PlanEpilogue fused = plan_epilogue(options, epilogue);
  if (weights == nullptr) invalid("weights is null");
  const Tuning tuning = read_tuning();
  const Implementation& entry = choose_implementation(problem, options.algorithm, options.math_mode, tuning);
  return bind(problem, weights, bias, options, fused, borrow_weights, entry, tuning, cache);
}

PlanState make_plan_with_in(const Problem& problem, const float* weights, const float* bias, const Options& options,
                            const char* implementation, const Epilogue* epilogue, WeightCache& cache) {
  const PlanEpilogue fused = plan_epilogue(options, epilogue);
  if (weights == nullptr) invalid("weights is null");
  const Implementation* entry = find_implementation(implementation);
  if (entry == nullptr) invalid("no implementation is named \"", implementation, "\"");
  const Tuning tuning = read_tuning();
  if (const DeclineReason reason = entry->declines(problem, tuning))
    fail(Status::Unsupported, entry->name, " declines ", describe(problem), ": ", reason);
  return bind(problem, weights, bias, options, fused, /*borrow_weights=*/false, *entry, tuning, cache);
}

void check_shape_field(const char* field, std::int64_t given, std::int64_t packed) {
  if (given != packed)
    invalid("desc.", field, " = ", given, " differs from the packed weights' ", field, " = ", packed);
}

}  // namespace

// A plan of its own keeps its forms in a cache that dies with the call: the primitive's shared references own them.
PlanState make_plan(const Problem& problem, const float* weights, const float* bias, const Options& options,
                    bool borrow_weights, const Epilogue* epilogue) {
  WeightCache own(/*keeps_forms=*/false);
  return make_plan_in(problem, weights, bias, options, borrow_weights, epilogue, own);
}

PlanState make_plan(const Problem& problem, const float* weights, const float* bias, const Options& options,
                    const Epilogue* epilogue, WeightCache& cache) {
  return make_plan_in(problem, weights, bias, options, /*borrow_weights=*/false, epilogue, cache);
}

PlanState make_plan_with(const Problem& problem, const float* weights, const float* bias, const Options& options,
                         const char* implementation, const Epilogue* epilogue) {
  WeightCache own(/*keeps_forms=*/false);
  return make_plan_with_in(problem, weights, bias, options, implementation, epilogue, own);
}

PlanState make_packed_plan(PackedWeights::State& packed, const Conv2dDesc& desc, const Options& options,
                           const Epilogue* epilogue, const char* implementation) {
  const WeightShape& shape = packed.shape;
  check_shape_field("in_channels", desc.in_channels, shape.in_channels);
  check_shape_field("out_channels", desc.out_channels, shape.out_channels);
  check_shape_field("kernel_height", desc.kernel_height, shape.kernel_height);
  check_shape_field("kernel_width", desc.kernel_width, shape.kernel_width);
  check_shape_field("groups", desc.groups, shape.groups);
  Conv2dDesc canonical = desc;
  canonical.weights_layout = WeightsLayout::OIHW;  // the packed weights' canonical copy
  const Problem problem = make_problem(canonical);
  if (implementation == nullptr)
    return make_plan_in(problem, packed.weights.get(), packed.bias.get(), options, /*borrow_weights=*/false, epilogue,
                        packed.cache);
  return make_plan_with_in(problem, packed.weights.get(), packed.bias.get(), options, implementation, epilogue,
                           packed.cache);
}

void execute(const PlanState& plan, const float* input, const float* residual, float* output, void* workspace,
             std::size_t workspace_size, const ThreadPool* pool) {
  std::optional<CallerPool> caller_pool;
  if (pool != nullptr) {
    if (pool->parallel_for == nullptr) invalid("pool.parallel_for is null");
    if (pool->width < 1) invalid("pool.width = ", pool->width, " must be at least 1");
    caller_pool = CallerPool{pool->context, pool->parallel_for, pool->width};
  }
  const UsingCallerPool using_pool(caller_pool ? &*caller_pool : nullptr);
  const std::size_t bytes = plan.primitive->workspace_bytes();
  if (plan.residual) {
    check_residual(plan.problem, input, residual, output, workspace,
                   workspace == nullptr ? 0 : reported_workspace_bytes(bytes));
  } else if (residual != nullptr) {
    invalid("residual is given but the plan's epilogue has none (epilogue.residual is not set)");
  }
  const std::ptrdiff_t offset = residual_offset(residual, output);
  if (workspace != nullptr) {
    const std::size_t required = reported_workspace_bytes(bytes);
    if (workspace_size < required)
      invalid("workspace_size = ", workspace_size, " is smaller than the ", required, " bytes the plan needs");
    check_disjoint_workspace(plan.problem, input, output, workspace, required);
    plan.primitive->run(input, output, offset, bytes == 0 ? nullptr : align_workspace(workspace));
    return;
  }
  // Small workspaces live on the stack, so the lesson-sized calls allocate nothing.
  alignas(64) unsigned char local[kStackWorkspaceBytes];
  if (bytes <= sizeof local) {
    plan.primitive->run(input, output, offset, local);
    return;
  }
  AlignedFloats heap;
  try {
    heap = allocate_floats((bytes + sizeof(float) - 1) / sizeof(float));
  } catch (const std::bad_alloc&) {
    fail(Status::OutOfMemory, "out of memory for a workspace of ", bytes, " bytes for ", describe(plan.problem));
  }
  plan.primitive->run(input, output, offset, heap.get());
}

}  // namespace detail

// The public face of a PlanState: its description ends with the threads a run uses.
struct Plan::Impl : detail::PlanState {
  explicit Impl(detail::PlanState state) : detail::PlanState(std::move(state)) {
    description += detail::threads_note(threads);
  }
};

namespace detail {

Plan PlanAccess::plan(PlanState state) { return Plan(std::make_unique<Plan::Impl>(std::move(state))); }

Plan plan_with(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options,
               const char* implementation, const Epilogue* epilogue) {
  return PlanAccess::plan(make_plan_with(make_problem(desc), weights, bias, options, implementation, epilogue));
}

Plan plan_with_packed(const PackedWeights& packed, const Conv2dDesc& desc, const Options& options,
                      const char* implementation, const Epilogue* epilogue) {
  return PlanAccess::plan(make_packed_plan(PlanAccess::state(packed), desc, options, epilogue, implementation));
}

std::uint64_t packed_weights_pack_count(const PackedWeights& packed) {
  return PlanAccess::state(packed).cache.pack_count();
}

}  // namespace detail

Plan::Plan(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options)
    : impl_(std::make_unique<Impl>(
          detail::make_plan(detail::make_problem(desc), weights, bias, options, /*borrow_weights=*/false))) {}
Plan::Plan(const std::vector<ConcatBranch>& branches, const Options& options)
    : impl_(std::make_unique<Impl>(detail::make_concat_plan(branches.data(), branches.size(), options))) {}
Plan::Plan(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options,
           const Epilogue& epilogue)
    : impl_(std::make_unique<Impl>(detail::make_plan(detail::make_problem(desc), weights, bias, options,
                                                     /*borrow_weights=*/false, &epilogue))) {}
Plan::Plan(const std::vector<ConcatBranch>& branches, const Options& options, const Epilogue& epilogue)
    : impl_(std::make_unique<Impl>(detail::make_concat_plan(branches.data(), branches.size(), options, &epilogue))) {}
Plan::Plan(const PackedWeights& packed, const Conv2dDesc& desc, const Options& options)
    : impl_(std::make_unique<Impl>(detail::make_packed_plan(*packed.state_, desc, options, nullptr))) {}
Plan::Plan(const PackedWeights& packed, const Conv2dDesc& desc, const Options& options, const Epilogue& epilogue)
    : impl_(std::make_unique<Impl>(detail::make_packed_plan(*packed.state_, desc, options, &epilogue))) {}
Plan::Plan(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Plan::~Plan() = default;
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;

// A moved-from plan has no Impl: it answers like the C API's NULL plan.
std::size_t Plan::workspace_size() const noexcept {
  return impl_ ? detail::reported_workspace_bytes(impl_->primitive->workspace_bytes()) : 0;
}

Algorithm Plan::algorithm() const noexcept { return impl_ ? impl_->primitive->algorithm() : Algorithm::Auto; }

const std::string& Plan::description() const noexcept {
  static const std::string empty;
  return impl_ ? impl_->description : empty;
}

namespace detail {
namespace {

// Every run's checks, then the run. `with_residual`: called as run_residual (else as run).
void checked_run(const Plan::Impl* impl, bool with_residual, const float* input, const float* residual, float* output,
                 void* workspace, std::size_t workspace_size, const ThreadPool* pool) {
  if (impl == nullptr) invalid("the plan is empty: it was moved from");
  if (input == nullptr) invalid("input is null");
  if (output == nullptr) invalid("output is null");
  check_disjoint_output(impl->problem, input, output);
  if (impl->residual && !with_residual)
    invalid("the plan's epilogue has a residual: run it with run_residual (C: convkit_plan_run_residual)");
  if (!impl->residual && with_residual)
    invalid("the plan's epilogue has no residual (epilogue.residual is not set): run it with run");
  execute(*impl, input, residual, output, workspace, workspace_size, pool);
}

}  // namespace
}  // namespace detail

void Plan::run(const float* input, float* output, void* workspace, std::size_t workspace_size) const {
  detail::checked_run(impl_.get(), false, input, nullptr, output, workspace, workspace_size, nullptr);
}

void Plan::run_residual(const float* input, const float* residual, float* output, void* workspace,
                        std::size_t workspace_size) const {
  detail::checked_run(impl_.get(), true, input, residual, output, workspace, workspace_size, nullptr);
}

void Plan::run_on(const ThreadPool& pool, const float* input, float* output, void* workspace,
                  std::size_t workspace_size) const {
  detail::checked_run(impl_.get(), false, input, nullptr, output, workspace, workspace_size, &pool);
}

void Plan::run_residual_on(const ThreadPool& pool, const float* input, const float* residual, float* output,
                           void* workspace, std::size_t workspace_size) const {
  detail::checked_run(impl_.get(), true, input, residual, output, workspace, workspace_size, &pool);
}

int Plan::threads() const noexcept { return impl_ ? impl_->threads : 0; }

int default_threads() { return detail::usable_threads(detail::default_thread_count()); }

const Epilogue& Plan::epilogue() const noexcept {
  static const Epilogue none;
  return impl_ ? impl_->epilogue : none;
}

// The one-shot call is a plan that borrows the caller's weights for the duration of the call.
Algorithm conv2d(const Conv2dDesc& desc, const float* input, const float* weights, const float* bias, float* output,
                 const Options& options) {
  const detail::Problem problem = detail::make_problem(desc);
  detail::validate_buffers(problem, input, weights, bias, output);
  const detail::PlanState plan = detail::make_plan(problem, weights, bias, options, /*borrow_weights=*/true);
  detail::execute(plan, input, nullptr, output, nullptr, 0);
  return plan.primitive->algorithm();
}

Algorithm conv2d(const Conv2dDesc& desc, const float* input, const float* weights, const float* bias,
                 const float* residual, float* output, const Options& options, const Epilogue& epilogue) {
  const detail::Problem problem = detail::make_problem(desc);
  detail::validate_buffers(problem, input, weights, bias, output);
  const detail::PlanState plan = detail::make_plan(problem, weights, bias, options, /*borrow_weights=*/true, &epilogue);
  detail::execute(plan, input, residual, output, nullptr, 0);
  return plan.primitive->algorithm();
}

// The canonical copy is made, then a plan for the descriptor packs its forms into the cache and is dropped.
PackedWeights::PackedWeights(const Conv2dDesc& desc, const float* weights, const float* bias, const Options& options) {
  const detail::Problem problem = detail::make_problem(desc);
  if (weights == nullptr) detail::invalid("weights is null");
  auto state = std::make_shared<State>();
  state->shape = {problem.in_channels, problem.out_channels, problem.kernel_height, problem.kernel_width,
                  problem.groups};
  try {
    state->weights = detail::weights_form(state->cache, problem, weights, WeightsLayout::OIHW);
    state->bias = detail::bias_form(state->cache, problem, bias);
  } catch (const std::bad_alloc&) {
    detail::fail(Status::OutOfMemory, "out of memory while copying the weights of ", detail::describe(problem));
  }
  detail::make_packed_plan(*state, desc, options, nullptr);
  state_ = std::move(state);
}

PackedWeights::PackedWeights(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

std::size_t PackedWeights::size_bytes() const { return state_->cache.float_count() * sizeof(float); }

std::size_t PackedWeights::form_count() const { return state_->cache.form_count(); }

std::vector<unsigned char> PackedWeights::save() const { return detail::save_packed_weights(*state_); }

PackedWeights PackedWeights::load(const void* data, std::size_t size) {
  return PackedWeights(detail::load_packed_weights(data, size));
}

Algorithm chosen_algorithm(const Conv2dDesc& desc, const Options& options) {
  const detail::Problem problem = detail::make_problem(desc);
  detail::validate_options(options);
  return detail::choose_implementation(problem, options.algorithm, options.math_mode, detail::read_tuning()).algorithm;
}

#define CONVKIT_STRINGIFY_(x) #x
#define CONVKIT_STRINGIFY(x) CONVKIT_STRINGIFY_(x)
const char* version() noexcept {
  return CONVKIT_STRINGIFY(CONVKIT_VERSION_MAJOR) "." CONVKIT_STRINGIFY(CONVKIT_VERSION_MINOR) "." CONVKIT_STRINGIFY(
      CONVKIT_VERSION_PATCH);
}

const char* simd_isa() noexcept { return detail::direct_ukernels().isa; }

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
    case Algorithm::Winograd:
      return "winograd";
    case Algorithm::ImplicitGemm:
      return "implicit_gemm";
  }
  return "unknown";
}

BlasInfo blas_info() { return detail::cached_blas_info(); }

}  // namespace convkit
