#include "profile.hpp"

#include <atomic>

namespace convkit::detail {
namespace {

std::atomic<std::int64_t> g_nanoseconds[static_cast<int>(Phase::Count)];

}  // namespace

void enable_profiling(bool enabled) { g_profiling_enabled.store(enabled, std::memory_order_relaxed); }

void reset_phase_seconds() {
  for (auto& counter : g_nanoseconds) counter.store(0, std::memory_order_relaxed);
}

PhaseSeconds phase_seconds() {
  PhaseSeconds result{};
  for (int i = 0; i < static_cast<int>(Phase::Count); ++i)
    result.seconds[i] = 1e-9 * static_cast<double>(g_nanoseconds[i].load(std::memory_order_relaxed));
  return result;
}

void add_phase_nanoseconds(Phase phase, std::int64_t nanoseconds) {
  g_nanoseconds[static_cast<int>(phase)].fetch_add(nanoseconds, std::memory_order_relaxed);
}

}  // namespace convkit::detail
