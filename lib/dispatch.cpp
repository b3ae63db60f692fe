// Choosing the implementation: one ordered list of named entries; the first that takes the problem wins, and the
// reference, which accepts everything, is last. Every entry that passes gives a one-line reason, and
// CONVKIT_VERBOSE=1 prints them all.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "error.hpp"
#include "primitive.hpp"
#include "tuning.hpp"

namespace convkit::detail {
namespace {

// The families in the order auto tries them, after direct_tiny, which takes calls of a few thousand FLOPs before any
// family's setup would (direct_tiny.cpp). gemm_1x1 first: it reads a unit-stride unpadded 1x1 input in place. In
// the fast math mode only, Winograd next, for 3x3 stride-1 layers with enough channels per group. Then direct, which
// takes the shapes where unfolding and a GEMM cost more than the arithmetic (its auto_declines holds the
// thresholds), then implicit_gemm where it beats unfolding (NHWC rows of 5 pixels and more; NCHW long reductions on
// small images), then im2col_gemm for everything the BLAS can index, and the reference for the rest. Within a family,
// its entries in their own order (each family's file says why).
using Family = const Implementation* const* (*)();
constexpr Family kStrictFamilies[] = {tiny_call_implementations,   gemm_1x1_implementations,
                                      direct_implementations,      implicit_gemm_implementations,
                                      im2col_gemm_implementations, reference_implementations};
constexpr Family kFastFamilies[] = {
    tiny_call_implementations,     gemm_1x1_implementations,    winograd_implementations, direct_implementations,
    implicit_gemm_implementations, im2col_gemm_implementations, reference_implementations};

// The flat lists, each entry once (direct_tiny comes first, not again in its family), built once (a call on the
// lesson's shapes takes well under a microsecond: no allocation per call).
template <std::size_t kCount>
struct OrderedList {
  const Implementation* entries[32] = {};
  explicit OrderedList(const Family (&families)[kCount]) {
    std::size_t count = 0;
    for (Family family : families)
      for (const Implementation* const* next = family(); *next != nullptr; ++next)
        if (std::find(entries, entries + count, *next) == entries + count) entries[count++] = *next;
  }
};

const Implementation* const* ordered(MathMode math_mode) {
  static const OrderedList<std::size(kStrictFamilies)> strict(kStrictFamilies);
  static const OrderedList<std::size(kFastFamilies)> fast(kFastFamilies);
  return math_mode == MathMode::Fast ? fast.entries : strict.entries;
}

const Implementation* const* family_of(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::Reference:
      return reference_implementations();
    case Algorithm::Im2colGemm:
      return im2col_gemm_implementations();
    case Algorithm::Gemm1x1:
      return gemm_1x1_implementations();
    case Algorithm::Direct:
      return direct_implementations();
    case Algorithm::Winograd:
      return winograd_implementations();
    case Algorithm::ImplicitGemm:
      return implicit_gemm_implementations();
    default:
      fail(Status::InternalError, "no family for algorithm ", static_cast<int>(algorithm));
  }
}

void report(const char* format, const char* name, const char* detail) {
  if (verbose_dispatch()) std::fprintf(stderr, format, name, detail);
}

// A family asked for by name: its first entry that neither declines nor defers. When all decline, the reason of
// the first (the family's own, e.g. "the kernel is not 1x1").
const Implementation& choose_in_family(const Problem& problem, Algorithm requested, const Tuning& tuning) {
  DeclineReason first_reason = nullptr;
  for (const Implementation* const* next = family_of(requested); *next != nullptr; ++next) {
    const Implementation& entry = **next;
    DeclineReason reason = entry.declines(problem, tuning);
    if (reason != nullptr && first_reason == nullptr) first_reason = reason;
    if (reason == nullptr) reason = entry.defers(problem, tuning);
    if (reason == nullptr) {
      report("convkit: %s (asked for) on %s\n", entry.name, describe(problem).c_str());
      return entry;
    }
    report("convkit:   %s declines: %s\n", entry.name, reason);
  }
  fail(Status::Unsupported, "algorithm ", algorithm_name(requested), " declines ", describe(problem), ": ",
       first_reason != nullptr ? first_reason : "every implementation defers");
}

}  // namespace

std::string describe(const Problem& p) {
  return concat("N=", p.batch, " Ci=", p.in_channels, " H=", p.in_height, " W=", p.in_width, " Co=", p.out_channels,
                " K=", p.kernel_height, "x", p.kernel_width, " stride=", p.stride_height, ",", p.stride_width,
                " pad=", p.pad_top, ",", p.pad_left, ",", p.pad_bottom, ",", p.pad_right,
                " dilation=", p.dilation_height, ",", p.dilation_width, " groups=", p.groups,
                p.layout == Layout::NCHW ? " NCHW" : " NHWC");
}

const Implementation& choose_implementation(const Problem& problem, Algorithm requested, MathMode math_mode,
                                            const Tuning& tuning) {
  if (requested != Algorithm::Auto) return choose_in_family(problem, requested, tuning);
  for (const Implementation* const* next = ordered(math_mode); *next != nullptr; ++next) {
    const Implementation& entry = **next;
    DeclineReason reason = entry.declines(problem, tuning);
    if (reason == nullptr) reason = entry.defers(problem, tuning);
    if (reason == nullptr) reason = entry.auto_declines(problem);
    if (reason == nullptr) {
      if (verbose_dispatch())
        std::fprintf(stderr, "convkit: auto chose %s for %s\n", entry.name, describe(problem).c_str());
      return entry;
    }
    report("convkit:   %s declines: %s\n", entry.name, reason);
  }
  fail(Status::InternalError, "no implementation accepted the problem, not even the reference");
}

const Implementation* find_implementation(const char* name) {
  for (const Implementation* const* next = all_implementations(); *next != nullptr; ++next)
    if (std::strcmp((*next)->name, name) == 0) return *next;
  return nullptr;
}

const Implementation* const* all_implementations() { return ordered(MathMode::Fast); }

}  // namespace convkit::detail
