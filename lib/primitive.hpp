// The algorithms behind the API. Each is a factory that either declines a problem with a one-line reason or binds
// to it a Primitive: the problem, the weights packed the way the algorithm reads them, and the epilogue.
#pragma once

#include "problem.hpp"
#include "tuning.hpp"

#include <cstddef>
#include <memory>
#include <string>

namespace convkit::detail {

// An algorithm bound to one problem. Immutable once created: run() may be called from several threads at once.
class Primitive {
 public:
  virtual ~Primitive() = default;
  virtual Algorithm algorithm() const = 0;
  // Bytes of scratch memory a run needs (may be 0); 64-byte alignment is expected.
  virtual std::size_t workspace_bytes() const = 0;
  // Computes the whole convolution into output. `workspace` holds workspace_bytes() bytes.
  virtual void run(const float* input, float* output, void* workspace) const = 0;
};

// What a Primitive is created from: everything is copied, so the caller may free its buffers afterwards.
struct PrimitiveArguments {
  const Problem& problem;
  const float* weights;  // in problem.weights_layout
  const float* bias;     // out_channels floats or null
  Activation activation;
  float clamp_min, clamp_max;
  int threads;  // resolved: >= 1
  const Tuning& tuning;  // the tuning variables, read once for this plan (tuning.hpp)
  // The kernel lives only for one call, during which the caller's weights and bias stay valid: an algorithm that
  // reads them as they lie may skip its copy (the one-shot call). Otherwise everything is copied.
  bool borrow_weights;
};

// Why an algorithm declines a problem: a static one-line reason, or null when it accepts.
using DeclineReason = const char*;

// For entries with nothing to decline.
inline DeclineReason accepts_everything(const Problem&) { return nullptr; }

struct AlgorithmEntry {
  Algorithm algorithm;
  // Whether the algorithm can compute the problem at all (asked by name, it answers Unsupported otherwise).
  DeclineReason (*declines)(const Problem& problem);
  // Whether `auto` should prefer another candidate although this one could run (measured thresholds); null = no.
  DeclineReason (*auto_declines)(const Problem& problem);
  std::unique_ptr<Primitive> (*create)(const PrimitiveArguments& arguments);
};

const AlgorithmEntry& reference_algorithm();
const AlgorithmEntry& im2col_gemm_algorithm();
const AlgorithmEntry& gemm_1x1_algorithm();
const AlgorithmEntry& direct_algorithm();
const AlgorithmEntry& winograd_algorithm();

// Chooses the algorithm: the requested one, or for Auto the first of the ordered candidates that accepts the
// problem (the reference, last, accepts all); the candidates with a larger error (Winograd) only in MathMode::Fast.
// Throws Error(Unsupported) when a requested algorithm declines.
// With the environment variable CONVKIT_VERBOSE set to 1, prints the choice and every candidate's reason to stderr.
const AlgorithmEntry& choose_algorithm(const Problem& problem, Algorithm requested, MathMode math_mode);

// A one-line description of the problem for messages.
std::string describe(const Problem& problem);

}  // namespace convkit::detail
