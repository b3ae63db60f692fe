// The algorithms behind the API. Each is a factory that either declines a problem with a one-line reason or binds
// to it a Primitive: the problem, the weights packed the way the algorithm reads them, and the epilogue.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "packed_weights.hpp"
#include "post_ops.hpp"
#include "problem.hpp"
#include "tuning.hpp"

namespace convkit::detail {

// An algorithm bound to one problem. Immutable once created: run() may be called from several threads at once.
class Primitive {
 public:
  virtual ~Primitive() = default;
  virtual Algorithm algorithm() const = 0;
  // Bytes of scratch memory a run needs (may be 0); 64-byte alignment is expected.
  virtual std::size_t workspace_bytes() const = 0;
  // Computes the whole convolution into output. `workspace` holds workspace_bytes() bytes. With the residual post-op,
  // the residual of output element i is output[i + residual_offset] (post_ops.hpp; 0: in place), read before
  // element i is written.
  virtual void run(const float* input, float* output, std::ptrdiff_t residual_offset, void* workspace) const = 0;
};

// A run whose workspace_bytes() is at most this, and whose caller passes no workspace, gets it on the stack: calls of
// the lesson's size allocate nothing.
constexpr std::size_t kStackWorkspaceBytes = 8192;

// What a Primitive is created from: everything is copied, so the caller may free its buffers afterwards.
struct PrimitiveArguments {
  const Problem& problem;
  const float* weights;   // in problem.weights_layout
  const float* bias;      // out_channels floats or null
  Activation activation;  // the activation in registers: post.register_activation()
  float clamp_min, clamp_max;
  const PostOps& post;   // the residual sum and the activation (all of it, the register part included)
  int threads;           // resolved: >= 1
  const Tuning& tuning;  // the tuning variables, read once for this plan (tuning.hpp)
  // The kernel lives only for one call, during which the caller's weights and bias stay valid: an algorithm that
  // reads them as they lie may skip its copy (the one-shot call). Otherwise everything is copied.
  bool borrow_weights;
  // Where every packed array the primitive keeps comes from (packed_weights.hpp): get_or_pack with a key naming all
  // the parameters of its content. A plan's own private cache, or a PackedWeights' shared one. Arrays a primitive
  // only packs from are not forms.
  WeightCache& cache;
};

// Why an implementation declines a problem: a static one-line reason, or null when it accepts.
using DeclineReason = const char*;

// For entries with nothing to decline.
inline DeclineReason accepts_everything(const Problem&) { return nullptr; }
inline DeclineReason accepts_everything(const Problem&, const Tuning&) { return nullptr; }

// One real path: a named entry of the ordered implementation list (dispatch.cpp). Its name starts with the name of
// its public algorithm, the family it belongs to ("im2col_gemm_convkit" is im2col_gemm multiplied by convkit's GEMM
// microkernels); Plan::description() and CONVKIT_VERBOSE name it.
struct Implementation {
  const char* name;
  Algorithm algorithm;
  // Why it cannot compute the problem (asked for by name, it answers Unsupported); null when it can.
  DeclineReason (*declines)(const Problem& problem, const Tuning& tuning);
  // Why another entry of its family should take the problem although this one could: the family's own choice of
  // how to run, which holds whether the family was asked for by name or by auto. Null when this entry should.
  DeclineReason (*defers)(const Problem& problem, const Tuning& tuning);
  // Why auto prefers another family although this one could run (measured thresholds, shared by the family's
  // entries); null when it does not.
  DeclineReason (*auto_declines)(const Problem& problem);
  std::unique_ptr<Primitive> (*create)(const PrimitiveArguments& arguments);
};

// Each family's entries, best first, null-terminated: the order in which the family tries them.
// tiny_call_implementations is not a family: the entries auto tries before every family, for calls of a few thousand
// FLOPs, where any family's setup would cost more than the arithmetic (direct_tiny, also first in its own family).
const Implementation* const* tiny_call_implementations();
const Implementation* const* gemm_1x1_implementations();
const Implementation* const* im2col_gemm_implementations();
const Implementation* const* implicit_gemm_implementations();
const Implementation* const* direct_implementations();
const Implementation* const* winograd_implementations();
const Implementation* const* reference_implementations();

// Chooses the implementation: for Auto the first entry of the ordered list that neither declines, defers nor
// auto-declines (the reference, last, accepts all; the families with a larger error, Winograd, only in
// MathMode::Fast); for an algorithm asked for by name, the first entry of its family that neither declines nor
// defers. Throws Error(Unsupported) when the requested family declines.
// With CONVKIT_VERBOSE=1 (tuning.hpp), prints the choice and every entry's reason to stderr.
const Implementation& choose_implementation(const Problem& problem, Algorithm requested, MathMode math_mode,
                                            const Tuning& tuning);

// The entry of that name, or null. For tests and tools that ask for one path (plan.hpp, make_plan_with).
const Implementation* find_implementation(const char* name);

// Every entry, in the order auto tries them in MathMode::Fast (which lists them all).
const Implementation* const* all_implementations();

// A one-line description of the problem for messages.
std::string describe(const Problem& problem);

}  // namespace convkit::detail
